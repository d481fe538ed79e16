package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"
)

func newMode() *cobra.Command {
	var server, area, reason string
	cmd := &cobra.Command{
		Use:   "mode normal|emergency --area CODE [--reason TEXT] | mode list",
		Short: "Switch an area between normal and emergency (平急转换), or list the areas' modes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "list" {
				req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, server+"/api/v1/modes?format=csv", nil)
				if err != nil {
					return err
				}
				if t := adminToken(""); t != "" {
					req.Header.Set("Authorization", "Bearer "+t)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return fmt.Errorf("no server answers at %s: %w", server, err)
				}
				defer func() { _ = resp.Body.Close() }()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					return err
				}
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			if args[0] != "normal" && args[0] != "emergency" {
				return fmt.Errorf("mode must be normal, emergency or list, got %q", args[0])
			}
			if area == "" {
				return fmt.Errorf("--area is required: the street, community or grid code to switch")
			}
			body, _ := json.Marshal(map[string]string{"area": area, "mode": args[0], "reason": reason})
			var res map[string]string
			if err := adminCall(cmd.Context(), http.MethodPost, server+"/api/v1/modes", body, &res); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "area %s is now in %s mode; its schedules change within the scheduler's poll (15 s)\n", area, args[0])
			return nil
		},
	}
	def := defaultServer()
	cmd.Flags().StringVar(&server, "server", def, "server URL (default $YIWANG_SERVER or http://127.0.0.1:8080)")
	cmd.Flags().StringVar(&area, "area", "", "street, community or grid code")
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded with the change)")
	return cmd
}
