// Package config loads Spacecast's YAML configuration files strictly: an
// unknown key is an error, so a typo never silently falls back to a default.
// Values from the environment (secrets and deploy-time values) are applied on
// top by the caller after Load, and every section validates itself.
package config
