account "le" {
  directory = "letsencrypt"
}

http_solver "web" {
  webroot = "/var/www"
}

variable "email" {
  default = "a@example.com"
}
