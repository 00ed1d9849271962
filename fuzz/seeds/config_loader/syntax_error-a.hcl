account "le" {
  directory = "letsencrypt"
}
