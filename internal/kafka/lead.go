package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	kgo "github.com/segmentio/kafka-go"
)

// LeaderTopic is the one-partition topic whose consumer-group assignment
// elects the leader: the member the group gives its partition leads.
const LeaderTopic = "yiwang.leader"

// LeadOptions tune Lead. The zero value is safe.
type LeadOptions struct {
	// SessionTimeout is how long a leader that stopped answering keeps
	// its partition before the group gives it to another member (default
	// 6 s): the longest time without a leader after a crash.
	SessionTimeout time.Duration
	Log            *slog.Logger
}

// oldestLeads gives the leader partition to the member that has been
// running longest, so that a member joining does not take leadership
// from one that holds it: leadership moves only when its holder leaves.
type oldestLeads struct{ since int64 }

func (oldestLeads) ProtocolName() string { return "yiwang-oldest-leads" }

func (b oldestLeads) UserData() ([]byte, error) { return strconv.AppendInt(nil, b.since, 10), nil }

func (oldestLeads) AssignGroups(members []kgo.GroupMember, partitions []kgo.Partition) kgo.GroupMemberAssignments {
	out := kgo.GroupMemberAssignments{}
	pick, oldest := "", int64(0)
	for _, m := range members {
		out[m.ID] = map[string][]int{}
		since, err := strconv.ParseInt(string(m.UserData), 10, 64)
		if err != nil {
			since = 1<<63 - 1 // a member that says nothing comes last
		}
		if pick == "" || since < oldest || since == oldest && m.ID < pick {
			pick, oldest = m.ID, since
		}
	}
	if pick == "" {
		return out
	}
	for _, p := range partitions {
		out[pick][p.Topic] = append(out[pick][p.Topic], p.ID)
	}
	return out
}

// Lead joins group (a consumer group over LeaderTopic, which must exist
// with one partition) and calls lead(true) while this member is assigned
// the partition — the member running longest (oldestLeads) — and
// lead(false) whenever it is not, or not sure: between
// generations and when the group cannot be reached. It returns when ctx
// ends, after lead(false). A member is the leader from the moment its
// generation gives it the partition until that generation ends, which the
// coordinator starts only once every member of the generation before has
// rejoined or timed out: two leaders at once would need a member that
// kept acting after its session timed out without noticing, which Lead
// prevents by giving up leadership as soon as its generation ends.
func (c *Client) Lead(ctx context.Context, group string, o LeadOptions, lead func(bool)) error {
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = 6 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	cg, err := kgo.NewConsumerGroup(kgo.ConsumerGroupConfig{
		ID: group, Brokers: c.Brokers, Topics: []string{LeaderTopic},
		GroupBalancers: []kgo.GroupBalancer{oldestLeads{since: time.Now().UnixNano()}},
		SessionTimeout: o.SessionTimeout, HeartbeatInterval: o.SessionTimeout / 6, RebalanceTimeout: o.SessionTimeout,
		JoinGroupBackoff: time.Second, Timeout: 5 * time.Second,
		ErrorLogger: kgo.LoggerFunc(func(f string, a ...any) { o.Log.Debug("leader group: " + fmt.Sprintf(f, a...)) }),
	})
	if err != nil {
		return fmt.Errorf("leader group %s: %w", group, err)
	}
	defer func() { _ = cg.Close() }()
	defer lead(false)
	failing := false
	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			lead(false)
			if ctx.Err() != nil || errors.Is(err, kgo.ErrGroupClosed) {
				return nil
			}
			if !failing {
				o.Log.Warn("leader group unreachable; not leading until it answers", "group", group, "err", err)
				failing = true
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		failing = false
		leading := len(gen.Assignments[LeaderTopic]) > 0
		lead(leading)
		ended := make(chan struct{})
		gen.Start(func(gctx context.Context) {
			<-gctx.Done()
			close(ended)
		})
		select {
		case <-ended:
			lead(false)
		case <-ctx.Done():
			return nil
		}
	}
}
