/*
 * xpushd-vapid: the VAPID key of a webpush block.  Prints the
 * applicationServerKey a web app passes to pushManager.subscribe() (RFC
 * 8292 section 3.2: the uncompressed P-256 point, base64url), from the
 * PEM file the block's vapid-key-file names; with -g, makes that file
 * first (a new P-256 key, mode 0600, never over an existing file).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "plugins/webpush.h"

static void
usage(void)
{
	fprintf(stderr, "usage: xpushd-vapid [-g] key-file\n");
	exit(2);
}

static int
generate(const char *path)
{
	EVP_PKEY *k;
	FILE *f;
	int fd, ok;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1) {
		fprintf(stderr, "xpushd-vapid: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	if ((k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    (f = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "xpushd-vapid: cannot make a key\n");
		close(fd);
		unlink(path);
		EVP_PKEY_free(k);
		return -1;
	}
	ok = PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;
	ok = fclose(f) == 0 && ok;
	EVP_PKEY_free(k);
	if (!ok) {
		fprintf(stderr, "xpushd-vapid: %s: cannot write\n", path);
		unlink(path);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct wp_vapid v;
	char *err = NULL;
	int ch, gen = 0;

	while ((ch = getopt(argc, argv, "g")) != -1)
		switch (ch) {
		case 'g':
			gen = 1;
			break;
		default:
			usage();
		}
	if (optind != argc - 1)
		usage();
	if (gen && generate(argv[optind]) == -1)
		return 1;
	if (wp_vapid_load(argv[optind], &v, &err) == -1) {
		fprintf(stderr, "xpushd-vapid: %s\n", err);
		free(err);
		return 1;
	}
	printf("%s\n", v.public_b64);
	wp_vapid_free(&v);
	return 0;
}
