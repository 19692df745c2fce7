// Package logging builds the process's log/slog logger from the `log:`
// config section, and adapts the loggers of the libraries we embed (pion's
// LoggerFactory) so that every line goes through that one slog logger.
package logging
