package api

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sselog/sselog/stream"
)

// metrics holds the server's own Prometheus registry: no global state, so
// several servers (tests) never share counters.
type metrics struct {
	reg       *prometheus.Registry
	published *prometheus.CounterVec   // events stored, by target
	latency   *prometheus.HistogramVec // publish request to durable commit
	rejected  *prometheus.CounterVec   // error answers, by status
}

func newMetrics(lg Store, hub *stream.Hub) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sselog_published_events_total",
			Help: "Events stored by publish requests (idempotent repeats included), by target: user or broadcast.",
		}, []string{"target"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sselog_publish_duration_seconds",
			Help:    "Time from a publish request's decoded body to its durable commit, by route: user, broadcast or batch.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5},
		}, []string{"route"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sselog_http_errors_total",
			Help: "Requests answered with an error, by status code.",
		}, []string{"code"}),
	}
	hubCounter := func(name, help string, f func(stream.HubStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(hub.Stats())) })
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.published, m.latency, m.rejected,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sselog_subscribers",
			Help: "Open SSE streams.",
		}, func() float64 { return float64(hub.Stats().Subscribers) }),
		hubCounter("sselog_delivered_events_total", "Events written to live subscribers.",
			func(s stream.HubStats) uint64 { return s.Delivered }),
		hubCounter("sselog_replayed_events_total", "Events written to subscribers catching up from a resume point.",
			func(s stream.HubStats) uint64 { return s.Replayed }),
		hubCounter("sselog_heartbeats_total", "Heartbeat comments written.",
			func(s stream.HubStats) uint64 { return s.Heartbeats }),
		hubCounter("sselog_gaps_total", "Gap events sent (resume point invalid or older than retention).",
			func(s stream.HubStats) uint64 { return s.Gaps }),
		hubCounter("sselog_slow_closed_total", "Streams closed because a write timed out.",
			func(s stream.HubStats) uint64 { return s.SlowClosed }),
		&logCollector{log: lg},
	)
	return m
}

func (m *metrics) handler(logger *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// logCollector reports the log's figures from its counters: a scrape
// opens no transaction and walks no bucket.
type logCollector struct{ log Store }

var (
	descDeleted = prometheus.NewDesc("sselog_compaction_deleted_events_total",
		"Events deleted by retention since start.", nil, nil)
	descFileBytes = prometheus.NewDesc("sselog_data_file_bytes",
		"Size of the bbolt data file (it never shrinks; freed pages are reused).", nil, nil)
	descEvents = prometheus.NewDesc("sselog_events",
		"Events held, broadcasts included.", nil, nil)
	descBroadcasts = prometheus.NewDesc("sselog_broadcast_events",
		"Broadcast events held.", nil, nil)
	descUsers = prometheus.NewDesc("sselog_users",
		"Users holding at least one event.", nil, nil)
	descBackgroundErrors = prometheus.NewDesc("sselog_background_errors_total",
		"Failures of the log's background work since start, by task: move (journal to user buckets), retention, key-expiry. Each task keeps its own schedule after a failure.", []string{"task"}, nil)
	descDamaged = prometheus.NewDesc("sselog_damaged_records_total",
		"Stored records found damaged since start (logged and never served; run sselog check on a copy of the file).", nil, nil)
	descKeysExpired = prometheus.NewDesc("sselog_idempotency_keys_expired_total",
		"Idempotency keys forgotten after their window since start.", nil, nil)
)

func (c *logCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDeleted, descFileBytes, descEvents, descBroadcasts, descUsers, descBackgroundErrors, descDamaged, descKeysExpired} {
		ch <- d
	}
}

func (c *logCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.log.Counts()
	ch <- prometheus.MustNewConstMetric(descDeleted, prometheus.CounterValue, float64(st.Deleted))
	ch <- prometheus.MustNewConstMetric(descFileBytes, prometheus.GaugeValue, float64(st.FileBytes))
	ch <- prometheus.MustNewConstMetric(descEvents, prometheus.GaugeValue, float64(st.Events))
	ch <- prometheus.MustNewConstMetric(descBroadcasts, prometheus.GaugeValue, float64(st.Broadcasts))
	ch <- prometheus.MustNewConstMetric(descUsers, prometheus.GaugeValue, float64(st.Users))
	ch <- prometheus.MustNewConstMetric(descBackgroundErrors, prometheus.CounterValue, float64(st.MoveErrors), "move")
	ch <- prometheus.MustNewConstMetric(descBackgroundErrors, prometheus.CounterValue, float64(st.RetentionErrors), "retention")
	ch <- prometheus.MustNewConstMetric(descBackgroundErrors, prometheus.CounterValue, float64(st.KeyExpiryErrors), "key-expiry")
	ch <- prometheus.MustNewConstMetric(descDamaged, prometheus.CounterValue, float64(st.DamagedRecords))
	ch <- prometheus.MustNewConstMetric(descKeysExpired, prometheus.CounterValue, float64(st.KeysExpired))
}
