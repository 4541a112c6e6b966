/*
 * guidance.h - ready-to-apply YAML that tells a user how to fix a HelmRepository: the
 * corrected HelmRepository, and the recommended OCIRepository + HelmRelease.spec.chartRef.
 * Every YAML document is produced by libyaml's emitter from data, never printf-assembled.
 */
#ifndef OG_GUIDANCE_H
#define OG_GUIDANCE_H

#include <stdbool.h>

#include "ocigate/buf.h"
#include "ocigate/err.h"

struct cJSON;

/** The OCI Helm chart layer that an OCIRepository must select. */
#define OG_HELM_CHART_MEDIA_TYPE "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

/** What the guidance is built from. Borrowed pointers; only `object` is required. */
struct og_guidance {
    const struct cJSON *object; /**< the HelmRepository as sent (metadata and spec are read) */
    const char *oci_base;       /**< the OCI base to move to, or NULL when not known */
    const char *chart;          /**< a chart name, or NULL for the "<chart>" placeholder */
    bool drop_type;             /**< fix by removing spec.type (oci type on an http url) */
    const char *url; /**< spec.url to write where oci_base does not replace it (the user's url
                          as og_url_redact() shows it), or NULL to copy the user's */
};

/**
 * Appends the corrected HelmRepository as one YAML document (with `---`): metadata name,
 * namespace and labels kept; spec copied with type: oci and url: oci_base (or without type
 * when `drop_type`), passCredentials (HTTP-only) dropped, every other field kept.
 */
OG_NODISCARD enum og_err og_guidance_helmrepository(const struct og_guidance *g,
                                                    struct og_buf *out);

/**
 * Appends the OCIRepository (url `<oci_base>/<chart>`, ref.semver "*", layerSelector copying
 * the Helm chart layer; interval, secretRef, certSecretRef and provider carried over) and the
 * HelmRelease that uses it through spec.chartRef, as two YAML documents.
 */
OG_NODISCARD enum og_err og_guidance_ocirepository(const struct og_guidance *g, struct og_buf *out);

#endif
