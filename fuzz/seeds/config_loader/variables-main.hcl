variable "email" {
  type = string
}

variable "count" {
  type    = number
  default = "many"
}

variable "domains" {
  type    = list(string)
  default = ["example.com"]
}

variable "weird" {
  type    = tuple
  default = var.email
  secret  = true
}

variable "flag" {
  type = bool
}

account "le" {
  directory = "letsencrypt"
  contact   = ["mailto:${var.email}"]
}
