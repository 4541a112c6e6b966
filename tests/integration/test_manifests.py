#!/usr/bin/python3
"""Structural checks of manifests/ against what the apiserver requires of webhooks."""
import os
import unittest

import yaml

SRC = os.environ.get("OG_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def load(name):
    with open(os.path.join(SRC, "manifests", name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


class WebhookConfigurations(unittest.TestCase):
    def check(self, name, kind, path):
        (doc,) = load(name)
        self.assertEqual(doc["apiVersion"], "admissionregistration.k8s.io/v1")
        self.assertEqual(doc["kind"], kind)
        (hook,) = doc["webhooks"]
        self.assertEqual(hook["sideEffects"], "None")
        self.assertEqual(hook["admissionReviewVersions"], ["v1", "v1beta1"])
        self.assertIn(hook["failurePolicy"], ("Ignore", "Fail"))
        # A little above the 1.5 s analysis budget, within the apiserver's 1..30 s.
        self.assertGreater(hook["timeoutSeconds"], 1.5)
        self.assertLessEqual(hook["timeoutSeconds"], 30)
        self.assertEqual(hook["clientConfig"]["service"]["path"], path)
        (rule,) = hook["rules"]
        self.assertEqual(rule["apiGroups"], ["source.toolkit.fluxcd.io"])
        self.assertEqual(sorted(rule["apiVersions"]), ["v1", "v1beta2"])
        self.assertEqual(sorted(rule["operations"]), ["CREATE", "UPDATE"])
        self.assertEqual(rule["resources"], ["helmrepositories"])
        exprs = hook["namespaceSelector"]["matchExpressions"]
        self.assertIn(
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["ocigate-system"]},
            exprs,
        )
        # The webhook name must be a fully qualified name (at least three segments).
        self.assertGreaterEqual(hook["name"].count("."), 2)
        return hook

    def test_mutating(self):
        hook = self.check("webhook-mutating.yaml", "MutatingWebhookConfiguration", "/mutate")
        self.assertEqual(hook["reinvocationPolicy"], "Never")

    def test_validating(self):
        hook = self.check("webhook-validating.yaml", "ValidatingWebhookConfiguration", "/validate")
        self.assertNotIn("reinvocationPolicy", hook)


if __name__ == "__main__":
    unittest.main(verbosity=2)
