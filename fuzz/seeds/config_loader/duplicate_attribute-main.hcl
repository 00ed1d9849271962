account "le" {
  directory = "letsencrypt"
  directory = "letsencrypt-staging"
}
