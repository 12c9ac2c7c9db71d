// Command kubevirt-crds writes the CRDs capk-podnet's tests need, built by KubeVirt's own
// virt-operator constructors (the same code the operator uses to install them), as YAML files
// into the folder given as the only argument.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"capk-podnet/hack/upstream/kubevirt/components"
)

// Only what the simulator and the controller touch; KubeVirt has many more.
var constructors = map[string]func() (*extv1.CustomResourceDefinition, error){
	"virtualmachines":                  components.NewVirtualMachineCrd,
	"virtualmachineinstances":          components.NewVirtualMachineInstanceCrd,
	"virtualmachineinstancemigrations": components.NewVirtualMachineInstanceMigrationCrd,
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kubevirt-crds <output folder>")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for plural, newCrd := range constructors {
		crd, err := newCrd()
		if err != nil {
			return fmt.Errorf("%s: %w", plural, err)
		}
		out, err := toYAML(crd)
		if err != nil {
			return fmt.Errorf("%s: %w", plural, err)
		}
		file := filepath.Join(dir, "kubevirt.io_"+plural+".yaml")
		if err := os.WriteFile(file, out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// toYAML drops what the API server owns (status, creationTimestamp), as KubeVirt's own
// manifest tooling does, so the files apply cleanly.
func toYAML(crd *extv1.CustomResourceDefinition) ([]byte, error) {
	crd.TypeMeta.APIVersion = "apiextensions.k8s.io/v1"
	crd.TypeMeta.Kind = "CustomResourceDefinition"
	raw, err := json.Marshal(crd)
	if err != nil {
		return nil, err
	}
	var obj unstructured.Unstructured
	if err := json.Unmarshal(raw, &obj.Object); err != nil {
		return nil, err
	}
	unstructured.RemoveNestedField(obj.Object, "status")
	unstructured.RemoveNestedField(obj.Object, "metadata", "creationTimestamp")
	return yaml.Marshal(obj.Object)
}
