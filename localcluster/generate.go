package localcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// GenerateNodeConfigs writes n node configs into dir/nodes from a template
// (configs/cluster-node1.yaml): node<i> on 127.0.0.1:<8080+i>. With
// roomNode the n nodes serve connections only and one more, noderoom on
// 127.0.0.1:<8081+n>, owns every room: the room service apart from the
// connections, as in the seed's design, so a big room's owner is not also
// busy notifying thousands of viewers.
func GenerateNodeConfigs(template, dir string, n int, roomNode bool) ([]string, error) {
	tpl, err := os.ReadFile(template)
	if err != nil {
		return nil, err
	}
	if n > 900 {
		return nil, fmt.Errorf("-nodes %d: at most 900 (ports 8081..8980)", n)
	}
	out := filepath.Join(dir, "nodes")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	if !strings.Contains(string(tpl), "\ncluster:\n") {
		return nil, fmt.Errorf("%s: no cluster: section", template)
	}
	var files []string
	write := func(name, id string, port int, roles string) error {
		text := strings.NewReplacer(
			"id: node1", "id: "+id,
			"127.0.0.1:8081", fmt.Sprintf("127.0.0.1:%d", port),
		).Replace(string(tpl))
		if roles != "" {
			text = strings.Replace(text, "\ncluster:\n", "\ncluster:\n  roles: "+roles+"\n", 1)
		}
		f := filepath.Join(out, name)
		files = append(files, f)
		return os.WriteFile(f, []byte(text), 0o644)
	}
	roles := ""
	if roomNode {
		roles = "[fanout]"
	}
	for i := 1; i <= n; i++ {
		if err := write(fmt.Sprintf("node%d.yaml", i), fmt.Sprintf("node%d", i), 8080+i, roles); err != nil {
			return nil, err
		}
	}
	if roomNode {
		if err := write("noderoom.yaml", "noderoom", 8081+n, "[room]"); err != nil {
			return nil, err
		}
	}
	return files, nil
}
