package simulcast

import "errors"

// ErrConfig is returned for an invalid configuration.
var ErrConfig = errors.New("simulcast: invalid config")
