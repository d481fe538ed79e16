package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/yiwang-gov/yiwang/pipelines"
)

func newCheck() *cobra.Command {
	var file, schemaDir string
	cmd := &cobra.Command{
		Use:   "check -c FILE",
		Short: "Check a pipeline file and the schemas; print every problem with file:line and exit non-zero",
		RunE: func(cmd *cobra.Command, _ []string) error {
			probs := pipelines.Check(file, schemaDir, os.LookupEnv)
			for _, p := range probs {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			if len(probs) > 0 {
				return fmt.Errorf("%d problem(s) found", len(probs))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", file)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "pipelines/newarea.yaml", "pipeline file")
	cmd.Flags().StringVar(&schemaDir, "schemas", "", "check the schema files of this folder instead of the built-in ones")
	return cmd
}
