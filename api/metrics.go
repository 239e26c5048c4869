package api

import (
	"log/slog"
	"net/http"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sselog/sselog/stream"
)

// metrics holds the server's own Prometheus registry: no global state, so
// several servers (tests) never share counters.
type metrics struct {
	reg     *prometheus.Registry
	latency *prometheus.HistogramVec // publish request to durable commit
	// routes holds latency's observer per route, looked up once.
	routes   map[string]prometheus.Observer
	rejected *prometheus.CounterVec // error answers, by status
}

func newMetrics(lg Store, hub *stream.Hub) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sselog_publish_duration_seconds",
			Help:    "Time from a publish request's decoded body to its durable commit (idempotent repeats included), by route: user, broadcast or batch.",
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
		m.latency, m.rejected,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sselog_subscribers",
			Help: "Open SSE streams.",
		}, func() float64 { return float64(hub.Stats().Subscribers) }),
		hubCounter("sselog_delivered_events_total", "Event frames written to streams, replayed ones included.",
			func(s stream.HubStats) uint64 { return s.Delivered }),
		hubCounter("sselog_replayed_events_total", "Events written to subscribers catching up from a resume point.",
			func(s stream.HubStats) uint64 { return s.Replayed }),
		hubCounter("sselog_heartbeats_total", "Heartbeat comments written.",
			func(s stream.HubStats) uint64 { return s.Heartbeats }),
		hubCounter("sselog_gaps_total", "Gap events sent (resume point invalid, unknown to this log, or older than retention).",
			func(s stream.HubStats) uint64 { return s.Gaps }),
		hubCounter("sselog_slow_closed_total", "Streams closed because a write did not complete within the write timeout.",
			func(s stream.HubStats) uint64 { return s.SlowClosed }),
		&logCollector{log: lg},
	)
	m.routes = make(map[string]prometheus.Observer)
	for _, route := range []string{"user", "broadcast", "batch"} {
		m.routes[route] = m.latency.WithLabelValues(route)
	}
	return m
}

// handleMetrics serves the Prometheus text format.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.metricsHandler.ServeHTTP(w, r)
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
	descPublished = prometheus.NewDesc("sselog_published_events_total",
		"Events stored since start, by target: user or broadcast (idempotent repeats excluded).", []string{"target"}, nil)
	descRepeats = prometheus.NewDesc("sselog_idempotent_repeats_total",
		"Publishes answered with the id an Idempotency-Key already stored, storing nothing, since start.", nil, nil)
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
	descCommits = prometheus.NewDesc("sselog_commits_total",
		"Durable commits of appends since start; published events over commits is how many events share one fsync.", nil, nil)
)

func (c *logCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPublished, descRepeats, descDeleted, descFileBytes, descEvents, descBroadcasts, descUsers, descBackgroundErrors, descDamaged, descKeysExpired, descCommits} {
		ch <- d
	}
}

func (c *logCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.log.Counts()
	ch <- prometheus.MustNewConstMetric(descPublished, prometheus.CounterValue, float64(st.StoredUser), "user")
	ch <- prometheus.MustNewConstMetric(descPublished, prometheus.CounterValue, float64(st.StoredBroadcast), "broadcast")
	ch <- prometheus.MustNewConstMetric(descRepeats, prometheus.CounterValue, float64(st.Repeats))
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
	ch <- prometheus.MustNewConstMetric(descCommits, prometheus.CounterValue, float64(st.Commits))
}

// publishLatency is the latency histogram of one publish route.
func (m *metrics) publishLatency(route string) prometheus.Observer {
	if o, ok := m.routes[route]; ok {
		return o
	}
	return m.latency.WithLabelValues(route)
}
