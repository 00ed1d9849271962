# A wildcard and its apex from Let's Encrypt (staging), validated over DNS-01 in an Azure
# DNS zone, as a service principal (app registration) with a client secret. See README.md.

variable "directory" {
  type    = string
  default = "letsencrypt-staging"
}

account "le" {
  directory               = var.directory
  contact                 = ["mailto:ops@example.com"]
  terms_of_service_agreed = true
}

dns_solver "azure" {
  provider        = "azure"
  zones           = ["example.com"]
  subscription_id = "00000000-0000-0000-0000-000000000000" # or AZURE_SUBSCRIPTION_ID
  resource_group  = "dns"                                  # or AZURE_RESOURCE_GROUP
  tenant_id       = "11111111-1111-1111-1111-111111111111" # or AZURE_TENANT_ID
  client_id       = "22222222-2222-2222-2222-222222222222" # or AZURE_CLIENT_ID
  # client_secret is read from AZURE_CLIENT_SECRET when it is not set here.
}

certificate "wild" {
  account = account.le
  domains = ["example.com", "*.example.com"]
  solvers = [dns_solver.azure]

  output "files" {
    directory = "tls/wild"
  }
}
