package kafka

import (
	"testing"

	kgo "github.com/segmentio/kafka-go"
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
