/* SPDX-License-Identifier: MIT */
/*
 * target.c - Lambda's FunctionName and Qualifier syntax (see function.h):
 * a name, name:qualifier, a full or a partial ARN.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "function.h"

/* 1..max characters of [A-Za-z0-9_-]: Lambda's names and qualifiers. */
static bool word_ok(const char *s, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

static bool name_ok(const char *s, size_t n)
{
	return word_ok(s, n, 64);
}

static bool qual_ok(const char *s, size_t n)
{
	return (n == 7 && memcmp(s, "$LATEST", 7) == 0) || word_ok(s, n, 128);
}

int spur_target_parse(const char *target, const char *qualifier,
			     const char **name, size_t *name_len,
			     const char **qual, size_t *qual_len,
			     char *why, size_t len)
{
	const char *s = target ? target : "";
	/* arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUAL] or
	 * ACCOUNT:function:NAME[:QUAL]: skip to what follows "function:". */
	const char *f = strstr(s, ":function:");
	if (strncmp(s, "arn:", 4) == 0) {
		if (!f || strncmp(strchr(s + 4, ':') ? strchr(s + 4, ':') : "", ":lambda:", 8) != 0) {
			snprintf(why, len, "1 validation error detected: Value '%.200s' at 'functionName' failed to satisfy constraint: not a Lambda function ARN", s);
			return -EINVAL;
		}
		s = f + 10;
	} else if (f) {
		s = f + 10;
	}
	const char *colon = strchr(s, ':');
	*name = s;
	*name_len = colon ? (size_t)(colon - s) : strlen(s);
	*qual = colon ? colon + 1 : NULL;
	*qual_len = colon ? strlen(colon + 1) : 0;
	if (!name_ok(*name, *name_len)) {
		snprintf(why, len, "1 validation error detected: Value '%.200s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_]{1,64}", target ? target : "");
		return -EINVAL;
	}
	if (*qual && !qual_ok(*qual, *qual_len)) {
		snprintf(why, len, "1 validation error detected: Value '%.200s' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: $LATEST|[a-zA-Z0-9-_]{1,128}", *qual);
		return -EINVAL;
	}
	if (qualifier && *qualifier) {
		size_t ql = strlen(qualifier);
		if (!qual_ok(qualifier, ql)) {
			snprintf(why, len, "1 validation error detected: Value '%.200s' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: $LATEST|[a-zA-Z0-9-_]{1,128}", qualifier);
			return -EINVAL;
		}
		if (*qual && (ql != *qual_len || memcmp(qualifier, *qual, ql) != 0)) {
			snprintf(why, len, "The derived qualifier from the function name does not match the specified qualifier.");
			return -EINVAL;
		}
		*qual = qualifier;
		*qual_len = ql;
	}
	return 0;
}

