package validation

import (
	"reflect"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"
)

// message returns the neutral English detail for a failed rule. It names
// neither the field (the pointer does) nor the submitted value; param is
// the rule's parameter with Go field names already turned into JSON names.
func message(fe validator.FieldError, param string) string {
	tag := fe.Tag()
	if m := tagMessage(tag, fe, param); m != "" {
		return m
	}
	if actual := fe.ActualTag(); actual != tag {
		if m := tagMessage(actual, fe, param); m != "" {
			return m
		}
	}
	return "is not valid"
}

// measure says what a size rule counts for the field's kind.
type measure int

const (
	measureNumber measure = iota
	measureChars
	measureItems
	measureTime
)

func measureOf(fe validator.FieldError) measure {
	switch fe.Kind() {
	case reflect.String:
		return measureChars
	case reflect.Slice, reflect.Array, reflect.Map:
		return measureItems
	case reflect.Struct:
		if fe.Type() == reflect.TypeFor[time.Time]() {
			return measureTime
		}
	}
	return measureNumber
}

// count formats "N unit(s)".
func count(n, unit string) string {
	if n == "1" {
		return n + " " + unit
	}
	return n + " " + unit + "s"
}

// sizeMessage phrases the comparison rules (min, max, len, eq, ne, gt, gte,
// lt, lte) by kind: characters for strings, items for collections, values
// for numbers, the present time for time.Time without a parameter.
func sizeMessage(tag string, m measure, p string) string {
	switch m {
	case measureChars:
		switch tag {
		case "min", "gte":
			return "must be at least " + count(p, "character") + " long"
		case "max", "lte":
			return "must be at most " + count(p, "character") + " long"
		case "len", "eq":
			return "must be exactly " + count(p, "character") + " long"
		case "ne":
			return "must not be exactly " + count(p, "character") + " long"
		case "gt":
			return "must be longer than " + count(p, "character")
		case "lt":
			return "must be shorter than " + count(p, "character")
		}
	case measureItems:
		switch tag {
		case "min", "gte":
			return "must contain at least " + count(p, "item")
		case "max", "lte":
			return "must contain at most " + count(p, "item")
		case "len", "eq":
			return "must contain exactly " + count(p, "item")
		case "ne":
			return "must not contain exactly " + count(p, "item")
		case "gt":
			return "must contain more than " + count(p, "item")
		case "lt":
			return "must contain fewer than " + count(p, "item")
		}
	case measureTime:
		if p == "" {
			switch tag {
			case "gt":
				return "must be in the future"
			case "gte":
				return "must not be in the past"
			case "lt":
				return "must be in the past"
			case "lte":
				return "must not be in the future"
			}
		}
		fallthrough
	default:
		switch tag {
		case "min", "gte":
			return "must be " + p + " or greater"
		case "max", "lte":
			return "must be " + p + " or less"
		case "len", "eq":
			return "must be equal to " + p
		case "ne":
			return "must not be equal to " + p
		case "gt":
			return "must be greater than " + p
		case "lt":
			return "must be less than " + p
		}
	}
	return ""
}

// conditions phrases the parameter of required_if and friends, pairs of
// field and value: "status is active and kind is card".
func conditions(p string) string {
	f := strings.Fields(p)
	var parts []string
	for i := 0; i+1 < len(f); i += 2 {
		parts = append(parts, f[i]+" is "+f[i+1])
	}
	if len(parts) == 0 {
		return "another field is set"
	}
	return strings.Join(parts, " and ")
}

// fields phrases a parameter that lists fields: "a", "a or b".
func fields(p, joiner string) string {
	f := strings.Fields(p)
	if len(f) == 0 {
		return "another field"
	}
	return strings.Join(f, joiner)
}

func tagMessage(tag string, fe validator.FieldError, p string) string {
	switch tag {
	case "min", "max", "len", "eq", "ne", "gt", "gte", "lt", "lte",
		"eq_ignore_case", "ne_ignore_case":
		if strings.HasSuffix(tag, "_ignore_case") {
			return sizeMessage(strings.TrimSuffix(tag, "_ignore_case"), measureNumber, p) + " (ignoring case)"
		}
		return sizeMessage(tag, measureOf(fe), p)

	case "required", "required_if", "required_unless", "required_with", "required_with_all",
		"required_without", "required_without_all":
		switch tag {
		case "required_if":
			return "is required when " + conditions(p)
		case "required_unless":
			return "is required unless " + conditions(p)
		case "required_with":
			return "is required when " + fields(p, " or ") + " is present"
		case "required_with_all":
			return "is required when " + fields(p, " and ") + " are present"
		case "required_without":
			return "is required when " + fields(p, " or ") + " is absent"
		case "required_without_all":
			return "is required when " + fields(p, " and ") + " are absent"
		}
		return "is required"
	case "excluded_if":
		return "must be absent when " + conditions(p)
	case "excluded_unless":
		return "must be absent unless " + conditions(p)
	case "excluded_with":
		return "must be absent when " + fields(p, " or ") + " is present"
	case "excluded_with_all":
		return "must be absent when " + fields(p, " and ") + " are present"
	case "excluded_without":
		return "must be absent when " + fields(p, " or ") + " is absent"
	case "excluded_without_all":
		return "must be absent when " + fields(p, " and ") + " are absent"
	case "isdefault":
		return "must be absent"

	case "eqfield", "eqcsfield":
		return "must be equal to " + orAnother(p)
	case "nefield", "necsfield":
		return "must not be equal to " + orAnother(p)
	case "gtfield", "gtcsfield":
		return "must be greater than " + orAnother(p)
	case "gtefield", "gtecsfield":
		return "must be greater than or equal to " + orAnother(p)
	case "ltfield", "ltcsfield":
		return "must be less than " + orAnother(p)
	case "ltefield", "ltecsfield":
		return "must be less than or equal to " + orAnother(p)
	case "fieldcontains":
		return "must contain the value of " + orAnother(p)
	case "fieldexcludes":
		return "must not contain the value of " + orAnother(p)

	case "oneof":
		return "must be one of: " + strings.Join(strings.Fields(p), ", ")
	case "oneofci":
		return "must be one of (ignoring case): " + strings.Join(strings.Fields(p), ", ")
	case "unique":
		return "must not contain duplicates"
	case "contains":
		return "must contain '" + p + "'"
	case "containsany":
		return "must contain at least one of the characters '" + p + "'"
	case "containsrune":
		return "must contain the character '" + p + "'"
	case "excludes":
		return "must not contain '" + p + "'"
	case "excludesall":
		return "must not contain any of the characters '" + p + "'"
	case "excludesrune":
		return "must not contain the character '" + p + "'"
	case "startswith":
		return "must start with '" + p + "'"
	case "endswith":
		return "must end with '" + p + "'"
	case "startsnotwith":
		return "must not start with '" + p + "'"
	case "endsnotwith":
		return "must not end with '" + p + "'"
	case "datetime":
		return "must be a date-time in the layout " + p
	}
	if m, ok := formatMessages[tag]; ok {
		return m
	}
	return ""
}

func orAnother(p string) string {
	if p == "" {
		return "another field"
	}
	return p
}

// formatMessages holds the rules whose message needs no parameter.
var formatMessages = map[string]string{
	"email":                   "must be a valid email address",
	"url":                     "must be a valid URL",
	"http_url":                "must be a valid HTTP or HTTPS URL",
	"https_url":               "must be a valid HTTPS URL",
	"uri":                     "must be a valid URI",
	"url_encoded":             "must be URL-encoded",
	"urn_rfc2141":             "must be a valid URN",
	"uuid":                    "must be a valid UUID",
	"uuid3":                   "must be a valid version 3 UUID",
	"uuid4":                   "must be a valid version 4 UUID",
	"uuid5":                   "must be a valid version 5 UUID",
	"uuid_rfc4122":            "must be a valid UUID",
	"ulid":                    "must be a valid ULID",
	"e164":                    "must be a phone number in E.164 format",
	"ip":                      "must be a valid IP address",
	"ipv4":                    "must be a valid IPv4 address",
	"ipv6":                    "must be a valid IPv6 address",
	"ip_addr":                 "must be a valid IP address",
	"cidr":                    "must be a valid CIDR network",
	"cidrv4":                  "must be a valid IPv4 CIDR network",
	"cidrv6":                  "must be a valid IPv6 CIDR network",
	"mac":                     "must be a valid MAC address",
	"hostname":                "must be a valid host name",
	"hostname_rfc1123":        "must be a valid host name",
	"hostname_port":           "must be a valid host and port",
	"fqdn":                    "must be a fully qualified domain name",
	"alpha":                   "must contain only letters",
	"alphanum":                "must contain only letters and digits",
	"alphaunicode":            "must contain only letters",
	"alphanumunicode":         "must contain only letters and digits",
	"alphaspace":              "must contain only letters and spaces",
	"numeric":                 "must be a numeric value",
	"number":                  "must be a number",
	"hexadecimal":             "must be a hexadecimal number",
	"hexcolor":                "must be a hex colour",
	"rgb":                     "must be an RGB colour",
	"rgba":                    "must be an RGBA colour",
	"hsl":                     "must be an HSL colour",
	"hsla":                    "must be an HSLA colour",
	"iscolor":                 "must be a colour",
	"boolean":                 "must be a boolean value",
	"lowercase":               "must be lowercase",
	"uppercase":               "must be uppercase",
	"ascii":                   "must contain only ASCII characters",
	"printascii":              "must contain only printable ASCII characters",
	"multibyte":               "must contain multibyte characters",
	"json":                    "must be valid JSON",
	"jwt":                     "must be a JSON Web Token",
	"base64":                  "must be valid base64",
	"base64url":               "must be valid base64url",
	"base64rawurl":            "must be valid unpadded base64url",
	"timezone":                "must be a valid time zone",
	"iso3166_1_alpha2":        "must be an ISO 3166-1 alpha-2 country code",
	"iso3166_1_alpha3":        "must be an ISO 3166-1 alpha-3 country code",
	"iso3166_1_alpha_numeric": "must be an ISO 3166-1 numeric country code",
	"iso4217":                 "must be an ISO 4217 currency code",
	"bcp47_language_tag":      "must be a BCP 47 language tag",
	"semver":                  "must be a semantic version",
	"latitude":                "must be a valid latitude",
	"longitude":               "must be a valid longitude",
	"md5":                     "must be an MD5 hash",
	"sha256":                  "must be a SHA-256 hash",
	"cron":                    "must be a cron expression",
	"btc_addr":                "must be a valid Bitcoin address",
	"eth_addr":                "must be a valid Ethereum address",
	"credit_card":             "must be a valid card number",
	"luhn_checksum":           "must have a valid check digit",
	"isbn":                    "must be a valid ISBN",
	"ssn":                     "must be a valid SSN",
	"postcode_iso3166_alpha2": "must be a valid postcode",
	"mongodb":                 "must be a valid object id",
	"cve":                     "must be a CVE identifier",
	"dns_rfc1035_label":       "must be a valid DNS label",
}
