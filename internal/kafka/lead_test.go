package kafka

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	kgo "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestOldestLeads: the leader partition goes to the longest-running
// member whatever the members' order and IDs; a member whose user data
// does not parse comes last; every member gets an assignment.
func TestOldestLeads(t *testing.T) {
	parts := []kgo.Partition{{Topic: LeaderTopic, ID: 0}}
	members := []kgo.GroupMember{
		{ID: "a", UserData: []byte("300")},
		{ID: "b", UserData: []byte("100")},
		{ID: "c", UserData: []byte("garbage")},
		{ID: "d", UserData: []byte("200")},
	}
	for range 2 {
		got := oldestLeads{}.AssignGroups(members, parts)
		if len(got) != 4 || len(got["b"][LeaderTopic]) != 1 || len(got["a"][LeaderTopic])+len(got["c"][LeaderTopic])+len(got["d"][LeaderTopic]) != 0 {
			t.Fatalf("assignments %v, want the partition to b only", got)
		}
		members[0], members[1] = members[1], members[0]
	}
	if got := (oldestLeads{}).AssignGroups([]kgo.GroupMember{{ID: "z", UserData: nil}, {ID: "y"}}, parts); len(got["y"][LeaderTopic]) != 1 {
		t.Fatalf("a tie goes to the smaller ID: %v", got)
	}
}

// TestShareOutlivesAGhost: a member that joins the group and dies before
// the coordinator's answer reaches it (a process killed mid-join) must not
// keep its share of the work: once its session times out, the member left
// gets every partition again. The embedded broker used to keep such a
// member forever, and the connectors it stood for never ran again.
func TestShareOutlivesAGhost(t *testing.T) {
	b := startBroker(t, t.TempDir())
	defer b.Close()
	c := NewClient([]string{b.Addr()})
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const topic, group = "work", "g"
	if err := c.EnsureTopics(ctx, []Topic{{Name: topic, Partitions: 4}}); err != nil {
		t.Fatal(err)
	}
	gens := make(chan int, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Share(ctx, group, topic, GroupOptions{SessionTimeout: 6 * time.Second}, nil, func(gctx context.Context, parts []int) {
			gens <- len(parts)
			<-gctx.Done()
		})
	}()
	defer func() { cancel(); <-done }()
	wait := func(what string, ok func(n int) bool) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			select {
			case n := <-gens:
				if ok(n) {
					return
				}
			case <-deadline:
				t.Fatalf("no generation %s within a minute", what)
			}
		}
	}
	wait("with every partition", func(n int) bool { return n == 4 })
	ghostJoin(t, b.Addr(), group, topic)
	wait("sharing with the ghost", func(n int) bool { return n < 4 })
	wait("with every partition once the ghost timed out", func(n int) bool { return n == 4 })
}

// ghostJoin joins group over topic as a new member, as kafka-go's range
// balancer would, and closes its connection before the answer comes.
func ghostJoin(t *testing.T, addr, group, topic string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{topic}
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 5
	req.Group, req.ProtocolType = group, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 6000, 6000
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta.AppendTo(nil)}}
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("ghost"))
	// A new member's first join is answered at once with its member ID.
	if _, err := conn.Write(f.AppendRequest(nil, req, 1)); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(conn, body); err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Version = 5
	if err := resp.ReadFrom(body[4:]); err != nil || resp.MemberID == "" {
		t.Fatalf("first join: %v, member ID %q", err, resp.MemberID)
	}
	req.MemberID = resp.MemberID
	if _, err := conn.Write(f.AppendRequest(nil, req, 2)); err != nil {
		t.Fatal(err)
	}
}
