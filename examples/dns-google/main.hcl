# A wildcard and its apex from Let's Encrypt (staging), validated over DNS-01 in a Google
# Cloud DNS managed zone, as a service account. See README.md.

variable "directory" {
  type    = string
  default = "letsencrypt-staging"
}

account "le" {
  directory               = var.directory
  contact                 = ["mailto:ops@example.com"]
  terms_of_service_agreed = true
}

dns_solver "google" {
  provider = "google"
  zones    = ["example.com"]
  # The service account's JSON key: from GCE_SERVICE_ACCOUNT when not set here, or
  # service_account = file("dns-sa.json"). The project is the key's project_id unless
  # project (or GCE_PROJECT) says otherwise.
  # project = "my-dns-project"
}

certificate "wild" {
  account = account.le
  domains = ["example.com", "*.example.com"]
  solvers = [dns_solver.google]

  output "files" {
    directory = "tls/wild"
  }
}
