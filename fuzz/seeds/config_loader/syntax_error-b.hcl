certificate "www" {
  account = account.le
  domains = ["example.com",
}
