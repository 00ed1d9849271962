# The sites: one certificate each, for the name and its aliases (default: www).
# Keys are the site names; an entry overrides local.site_defaults (main.hcl).
locals {
  site_list = {
    # Production, answered from the webroot.
    "alpha.example.com"    = {}
    "bravo.example.com"    = {}
    "charlie.example.com"  = {}
    "delta.example.com"    = { key_type = "rsa-2048" }
    "echo.example.com"     = { aliases = [] }
    "foxtrot.example.com"  = { aliases = ["www", "api"] }
    "golf.example.com"     = {}
    "hotel.example.com"    = {}
    "india.example.com"    = {}
    "juliett.example.com"  = { aliases = [] }
    "kilo.example.com"     = { key_type = "rsa-2048" }
    "lima.example.com"     = {}
    "mike.example.com"     = {}
    "november.example.com" = {}
    "oscar.example.com"    = { aliases = [] }
    "papa.example.com"     = {}
    "quebec.example.com"   = { aliases = ["www", "api"] }
    "romeo.example.com"    = { key_type = "rsa-2048" }
    "sierra.example.com"   = {}
    "tango.example.com"    = { aliases = [] }
    "uniform.example.com"  = {}
    "victor.example.com"   = {}
    "whiskey.example.com"  = {}
    "xray.example.com"     = {}
    "yankee.example.com"   = { key_type = "rsa-2048", aliases = [] }
    "zulu.example.com"     = {}
    "amber.example.com"    = {}
    "beryl.example.com"    = { aliases = ["www", "api"] }
    "coral.example.com"    = {}
    "denim.example.com"    = { aliases = [] }

    # Production, answered by the built-in listener.
    "ember.example.com"  = { solver = "builtin" }
    "fern.example.com"   = { solver = "builtin", key_type = "rsa-2048" }
    "garnet.example.com" = { solver = "builtin" }
    "hazel.example.com"  = { solver = "builtin" }
    "iris.example.com"   = { solver = "builtin", aliases = [] }
    "jade.example.com"   = { solver = "builtin" }
    "khaki.example.com"  = { solver = "builtin" }
    "lilac.example.com"  = { solver = "builtin" }
    "maple.example.com"  = { solver = "builtin", key_type = "rsa-2048", aliases = ["www", "api"] }
    "navy.example.com"   = { solver = "builtin", aliases = [] }

    # Staging: new sites are tried against the staging CA first.
    "olive.example.com"  = { account = "staging" }
    "pearl.example.com"  = { account = "staging" }
    "quartz.example.com" = { account = "staging" }
    "ruby.example.com"   = { account = "staging" }
    "sage.example.com"   = { account = "staging", aliases = [] }
    "teal.example.com"   = { account = "staging", key_type = "rsa-2048" }
    "umber.example.com"  = { account = "staging" }
    "violet.example.com" = { account = "staging" }
    "willow.example.com" = { account = "staging" }
    "zinc.example.com"   = { account = "staging", aliases = ["www", "api"] }
  }
}
