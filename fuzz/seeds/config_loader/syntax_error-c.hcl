http_solver "web" {
  webroot = "/var/www" "extra"
}
