package room

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	accepted *prometheus.CounterVec // lane
	dropped  *prometheus.CounterVec // reason
	joins    prometheus.Counter
	leaves   prometheus.Counter
	rooms    prometheus.GaugeFunc
	// fenced counts writes the store refused for a stale ownership term.
	fenced      prometheus.Counter
	storeErrors prometheus.Counter
	// deleted counts messages deleted by moderation (events announced).
	deleted prometheus.Counter
	// auditErrors counts moderation audit entries the store did not take.
	auditErrors prometheus.Counter
	// filtered counts word filter verdicts by action (mask, block, hold).
	filtered *prometheus.CounterVec
	// hidden counts messages accepted as shown to their sender only, by
	// cause (shadow_ban, filter_hold, hook_shadow).
	hidden *prometheus.CounterVec
	// duplicates counts resends answered with their first acceptance, by
	// where the client_msg_id was found (owner: the owner's window;
	// store: the store's, in the append).
	duplicates *prometheus.CounterVec
	// dedupeEvicted counts client_msg_ids an owner forgot before their
	// window ended because the room held DedupeKeep newer ones.
	dedupeEvicted prometheus.Counter
	// classes counts messages by traffic class and outcome (accepted, or
	// refused by the class's upstream budget).
	classes *prometheus.CounterVec
	closed  *prometheus.CounterVec // reason (lifecycle.go)
	// folded counts the sends counted into folded items (fold.go).
	folded prometheus.Counter
	// foldRounds counts the fold loop's rounds (fold.go): none while
	// nothing is folded.
	foldRounds prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, rooms func() float64) (*metrics, error) {
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "messages_accepted_total",
			Help: "Messages accepted by the room service, by lane (normal, priority).",
		}, []string{"lane"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "messages_dropped_total",
			Help: "Messages refused by the room service, by reason.",
		}, []string{"reason"}),
		joins: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "joins_total",
			Help: "Viewers that joined a room.",
		}),
		leaves: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "leaves_total",
			Help: "Viewers that left a room (including kicks and disconnects).",
		}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "fenced_writes_total",
			Help: "Room writes the store refused because a newer owner term had written the room.",
		}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "store_errors_total",
			Help: "Room store operations that failed (nothing was accepted).",
		}),
		hidden: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "messages_hidden_total",
			Help: "Messages judged to be shown to their sender only (then accepted unless the rate limit or the store refused them), by cause (shadow_ban, filter_hold, hook_shadow).",
		}, []string{"cause"}),
		deleted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "messages_deleted_total",
			Help: "Room messages deleted by their sender, a room moderator or host, or an admin.",
		}),
		auditErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "audit_errors_total",
			Help: "Moderation actions done whose audit log entry could not be written.",
		}),
		filtered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "filter_matches_total",
			Help: "Messages the word filter changed, by action (mask, block).",
		}, []string{"action"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "send_duplicates_total",
			Help: "Resent messages (a client_msg_id accepted before) answered with their first acceptance, by where the id was found (owner, store).",
		}, []string{"where"}),
		dedupeEvicted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "dedupe_evicted_total",
			Help: "client_msg_ids a room owner forgot before room.dedupe_window ended because the room held room.dedupe_keep newer ones.",
		}),
		classes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "class_messages_total",
			Help: "Room messages by traffic class (high, normal, low) and outcome (accepted; refused by the class's upstream budget).",
		}, []string{"class", "outcome"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "closed_total",
			Help: "Rooms closed, by reason (request, lifetime, idle).",
		}, []string{"reason"}),
		folded: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "folded_total",
			Help: "Sends of foldable kinds (likes, join notices) a room owner counted into folded items that were written.",
		}),
		foldRounds: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "fold_rounds_total",
			Help: "Fold rounds the room owner ran (one per fold interval while something is folded; none while nothing is).",
		}),
		rooms: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "roomcast", Subsystem: "room", Name: "rooms",
			Help: "Rooms this node owns.",
		}, rooms),
	}
	for _, r := range dropReasons {
		m.dropped.WithLabelValues(r)
	}
	m.filtered.WithLabelValues("mask")
	m.filtered.WithLabelValues("block")
	for _, c := range []string{ClassHigh, ClassNormal, ClassLow} {
		m.classes.WithLabelValues(c, "accepted")
		m.classes.WithLabelValues(c, "refused")
	}
	m.duplicates.WithLabelValues("owner")
	m.duplicates.WithLabelValues("store")
	m.accepted.WithLabelValues("normal")
	m.accepted.WithLabelValues("priority")
	if reg != nil {
		for _, c := range []prometheus.Collector{m.accepted, m.dropped, m.joins, m.leaves, m.rooms, m.fenced, m.storeErrors, m.deleted, m.hidden, m.auditErrors, m.filtered, m.duplicates, m.dedupeEvicted, m.classes, m.closed, m.folded, m.foldRounds} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
