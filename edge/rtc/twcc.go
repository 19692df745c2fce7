package rtc

import (
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
)

// Send-side bandwidth estimation (transport-wide congestion control,
// draft-holmer-rmcat-transport-wide-cc-extensions-01) for subscriber peer
// connections: pion's TWCC header-extension interceptor numbers every
// packet the edge sends, and one GCC estimator per connection
// (pion/interceptor/pkg/gcc, draft-ietf-rmcat-gcc-02) turns the
// subscriber's transport-cc feedback into a target bitrate. The target
// reaches the down tracks' RTCP readers as an interceptor attribute and
// drives layer choice the way REMB does for clients that negotiate only
// REMB.

// Estimator bounds, bits/s. The initial target is generous: a subscriber
// starts on the layer its request allows, and GCC lowers the target within
// a few feedback intervals if the path cannot carry it.
const (
	twccInitialBitrate = 5_000_000
	twccMinBitrate     = 100_000
	twccMaxBitrate     = 50_000_000
)

// twccProbeHold is how long the estimator must have seen neither overuse
// nor loss before the edge reports room for one layer more than GCC's
// target. Without padding probes GCC never targets more than 1.5 times
// what the subscriber receives, so a subscriber moved down could never be
// moved back up; stepping up when the path has been quiet this long, and
// down again (DownHold later) if that causes overuse, stands in for probing.
const twccProbeHold = 8 * time.Second

// twccLossCongested is the loss (averaged by GCC) counted as congestion.
const twccLossCongested = 0.02

// estimateKey is the interceptor attribute, set on RTCP reads that carried
// transport-cc feedback, whose value (uint64, bits/s) is the connection's
// bandwidth estimate.
type estimateKey struct{}

// SetEstimate attaches an estimate to an RTCP read's attributes, as the
// estimator does (for tests of what reads it).
func SetEstimate(a interceptor.Attributes, bps uint64) { a.Set(estimateKey{}, bps) }

// EstimateOf returns the TWCC estimate an RTCP read carried, if any.
func EstimateOf(a interceptor.Attributes) (uint64, bool) {
	v, ok := a.Get(estimateKey{}).(uint64)
	return v, ok
}

// bweFactory makes one estimator per subscriber peer connection.
type bweFactory struct {
	logs logging.LoggerFactory
	now  func() time.Time
}

func (f bweFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	est, err := gcc.NewSendSideBWE(
		gcc.SendSideBWEPacer(gcc.NewNoOpPacer()), // the edge forwards as packets come; no pacing queue
		gcc.SendSideBWEInitialBitrate(twccInitialBitrate),
		gcc.SendSideBWEMinBitrate(twccMinBitrate),
		gcc.SendSideBWEMaxBitrate(twccMaxBitrate),
		gcc.WithLoggerFactory(f.logs),
	)
	if err != nil {
		return nil, err
	}
	now := f.now
	if now == nil {
		now = time.Now
	}
	return &bwe{est: est, now: now, quietSince: now()}, nil
}

// bwe is a subscriber connection's estimator as a pion interceptor.
type bwe struct {
	interceptor.NoOp
	est *gcc.SendSideBWE
	now func() time.Time

	mu         sync.Mutex
	quietSince time.Time // since when no overuse or loss was seen
}

// BindLocalStream records every packet sent on a stream that carries the
// transport-cc extension (the others are not in the feedback).
func (b *bwe) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == sdp.TransportCCURI {
			return b.est.AddStream(info, w)
		}
	}
	return w
}

// BindRTCPReader feeds transport-cc feedback to the estimator and attaches
// the resulting estimate to the read's attributes.
func (b *bwe) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(buf []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := r.Read(buf, a)
		if err != nil {
			return n, a, err
		}
		if a == nil {
			a = interceptor.Attributes{}
		}
		pkts, perr := a.GetRTCPPackets(buf[:n])
		if perr != nil {
			return n, a, nil // the down track's reader drops it
		}
		for _, p := range pkts {
			if _, ok := p.(*rtcp.TransportLayerCC); ok {
				if b.est.WriteRTCP(pkts, a) == nil {
					a.Set(estimateKey{}, b.estimate())
				}
				break
			}
		}
		return n, a, nil
	})
}

// estimate is GCC's target, or twice it once the path has been quiet for
// twccProbeHold (see there).
func (b *bwe) estimate() uint64 {
	target := uint64(b.est.GetTargetBitrate())
	st := b.est.GetStats()
	loss, _ := st["averageLoss"].(float64)
	usage, _ := st["usage"].(string)
	state, _ := st["state"].(string)
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if usage == "overuse" || state == "decrease" || loss > twccLossCongested {
		b.quietSince = now
		return target
	}
	if now.Sub(b.quietSince) >= twccProbeHold {
		return 2 * target
	}
	return target
}

func (b *bwe) Close() error { return b.est.Close() }
