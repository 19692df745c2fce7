// Package testenv decides what a test does when the machine lacks
// something it needs (chromium, coturn, node modules, network namespaces):
// in CI, where .ci/deps installs all of it, the test fails, so a missing
// tool can never pass as a green run; elsewhere it skips.
package testenv
