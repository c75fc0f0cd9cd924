// Command dockerfile-lint runs BuildKit's Dockerfile checks - the rules behind
// `docker build --check` - on Dockerfiles, without a BuildKit daemon and without a registry.
//
// springhead_testinfra/dockerlint.py builds it against a pinned github.com/moby/buildkit from
// the Go module proxy. Usage:
//
//	dockerfile-lint [-experimental] Dockerfile...
//
// It prints one JSON object per Dockerfile (one per line):
//
//	{"file": "...", "warnings": [{"rule", "description", "url", "detail", "line"}], "error": "..."}
//
// and exits 0 once every file was checked (warnings are data, not failures), 2 on bad usage.
//
// Base images are not pulled: every FROM resolves to an image config of the requested platform
// with Docker's default PATH, so InvalidBaseImagePlatform never fires and the other rules see
// the Dockerfile as BuildKit would. A "# check=..." directive in a Dockerfile is honoured.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerui"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// defaultPath is the PATH Docker gives a container whose image sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// offlineImages answers every base image lookup with a one-layer image of the asked platform.
type offlineImages struct{}

func (offlineImages) ResolveImageConfig(
	_ context.Context, ref string, opt sourceresolver.Opt,
) (string, digest.Digest, []byte, error) {
	platform := platforms.DefaultSpec()
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		platform = *opt.ImageOpt.Platform
	}
	image := ocispecs.Image{
		Platform: platform,
		Config:   ocispecs.ImageConfig{Env: []string{"PATH=" + defaultPath}},
		RootFS: ocispecs.RootFS{
			Type:    "layers",
			DiffIDs: []digest.Digest{digest.FromString(ref)},
		},
	}
	config, err := json.Marshal(image)
	return ref, "", config, err
}

type warning struct {
	Rule        string `json:"rule"`
	Description string `json:"description"`
	URL         string `json:"url"`
	Detail      string `json:"detail"`
	Line        int32  `json:"line"`
}

type report struct {
	File     string    `json:"file"`
	Warnings []warning `json:"warnings"`
	Error    string    `json:"error,omitempty"`
}

func lint(ctx context.Context, path string, experimental bool) report {
	result := report{File: path, Warnings: []warning{}}
	source, err := os.ReadFile(path)
	if err != nil {
		result.Error = err.Error()
		return result
	}
	sourceMap := llb.NewSourceMap(nil, path, "Dockerfile", source)
	// The lint results carry the source; with no build there is no LLB to go with it.
	sourceMap.Definition = &llb.Definition{}
	opt := dockerfile2llb.ConvertOpt{SourceMap: sourceMap, MetaResolver: offlineImages{}}
	if experimental {
		opt.Config = dockerui.Config{LinterConfig: &linter.Config{ExperimentalAll: true}}
	}
	results, err := dockerfile2llb.DockerfileLint(ctx, source, opt)
	if err != nil {
		result.Error = err.Error()
		return result
	}
	for _, found := range results.Warnings {
		var line int32
		if found.Location != nil && len(found.Location.Ranges) > 0 {
			line = found.Location.Ranges[0].Start.Line
		}
		result.Warnings = append(result.Warnings, warning{
			Rule:        found.RuleName,
			Description: found.Description,
			URL:         found.URL,
			Detail:      found.Detail,
			Line:        line,
		})
	}
	if results.Error != nil {
		result.Error = results.Error.Message
	}
	return result
}

func main() {
	experimental := flag.Bool("experimental", false, "also run BuildKit's experimental rules")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: dockerfile-lint [-experimental] Dockerfile...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	out := json.NewEncoder(os.Stdout)
	for _, path := range flag.Args() {
		if err := out.Encode(lint(context.Background(), path, *experimental)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
