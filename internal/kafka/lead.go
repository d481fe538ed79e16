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

// GroupOptions tune Share and Lead. The zero value is safe.
type GroupOptions struct {
	// SessionTimeout is how long a member that stopped answering keeps
	// its partitions before the group gives them to the others (default
	// 6 s): the longest pause of its work after a crash.
	SessionTimeout time.Duration
	Log            *slog.Logger
}

// LeadOptions tune Lead.
type LeadOptions = GroupOptions

// Share joins group over topic, whose partitions stand for pieces of work,
// and for each generation of the group calls work with the partitions
// assigned to this member (possibly none) and a context that ends with
// the generation. The group moves on to its next generation only once
// every member's work has returned, so a piece of work never runs in two
// members at once: a member that loses its session stops its work when
// its generation ends, before another member's generation with that
// partition begins. balancer assigns the partitions (nil: by ranges). It
// returns when ctx ends, after the work of the last generation returned.
func (c *Client) Share(ctx context.Context, group, topic string, o GroupOptions, balancer kgo.GroupBalancer, work func(ctx context.Context, partitions []int)) error {
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = 6 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if balancer == nil {
		balancer = kgo.RangeGroupBalancer{}
	}
	cg, err := kgo.NewConsumerGroup(kgo.ConsumerGroupConfig{
		ID: group, Brokers: c.Brokers, Topics: []string{topic},
		GroupBalancers: []kgo.GroupBalancer{balancer},
		SessionTimeout: o.SessionTimeout, HeartbeatInterval: o.SessionTimeout / 6, RebalanceTimeout: o.SessionTimeout,
		JoinGroupBackoff: time.Second, Timeout: 5 * time.Second,
		ErrorLogger: kgo.LoggerFunc(func(f string, a ...any) { o.Log.Debug("group " + group + ": " + fmt.Sprintf(f, a...)) }),
	})
	if err != nil {
		return fmt.Errorf("group %s: %w", group, err)
	}
	defer func() { _ = cg.Close() }()
	failing := false
	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kgo.ErrGroupClosed) {
				return nil
			}
			if !failing {
				o.Log.Warn("group unreachable; its work waits until it answers", "group", group, "err", err)
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
		var parts []int
		for _, a := range gen.Assignments[topic] {
			parts = append(parts, a.ID)
		}
		done := make(chan struct{})
		gen.Start(func(gctx context.Context) {
			defer close(done)
			work(gctx, parts)
		})
		select {
		case <-done:
		case <-ctx.Done():
			_ = cg.Close() // ends the generation, and so the work
			<-done
			return nil
		}
	}
}

// Lead joins group (a consumer group over LeaderTopic, which must exist
// with one partition) and calls lead(true) while this member is assigned
// the partition — the member running longest (oldestLeads) — and
// lead(false) whenever it is not, or not sure: between generations and
// when the group cannot be reached. A member is the leader from the
// moment its generation gives it the partition until that generation
// ends; the coordinator starts the next generation only once every member
// of the one before has rejoined or timed out, and a member gives up
// leading as soon as its generation ends, so two never lead at once.
func (c *Client) Lead(ctx context.Context, group string, o LeadOptions, lead func(bool)) error {
	defer lead(false)
	return c.Share(ctx, group, LeaderTopic, o, oldestLeads{since: time.Now().UnixNano()}, func(gctx context.Context, parts []int) {
		lead(len(parts) > 0)
		<-gctx.Done()
		lead(false)
	})
}
