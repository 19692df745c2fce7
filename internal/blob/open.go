package blob

import (
	"context"
	"fmt"
)

// Open makes the Store a validated Config describes.
func Open(ctx context.Context, cfg Config, sec Secrets) (Store, error) {
	switch cfg.Kind {
	case KindLocal, "":
		return NewLocal(cfg.Local, sec.URLKey, cfg.URLTTL)
	case KindS3:
		return NewS3(ctx, cfg.S3, sec, cfg.URLTTL)
	}
	return nil, fmt.Errorf("%w: storage.kind %q", ErrConfig, cfg.Kind)
}
