# The configuration the CI jobs apply (tls/ of your infrastructure repository): the
# certificate is validated over DNS-01 in Route53 and delivered to AWS Certificate Manager,
# where the load balancer's HTTPS listener uses its ARN. The CI runner is thrown away after
# each job, so nothing is written to its disk: a `files` output there would be lost.
# AWS credentials come from the job (OIDC role), never from this file.

account "le" {
  directory               = "letsencrypt"
  contact                 = ["mailto:ops@example.com"]
  terms_of_service_agreed = true
}

dns_solver "route53" {
  provider = "route53"
  zones    = ["example.com"]
}

certificate "www" {
  account = account.le
  domains = ["example.com", "www.example.com"]
  solvers = [dns_solver.route53]

  # Imported once, then re-imported to the same ARN at every renewal: the listener picks
  # the new certificate up without a change to the load balancer. `plan` reads the ARN's
  # serial back, so a certificate replaced or deleted in ACM shows as drift.
  output "alb" {
    kind   = "aws_acm"
    region = "eu-west-1"
  }

  # The same certificate for the web servers, which fetch it at boot (an instance role
  # that may read this one secret).
  output "fleet" {
    kind      = "aws_secretsmanager"
    region    = "eu-west-1"
    secret_id = "tls/www.example.com"
  }
}
