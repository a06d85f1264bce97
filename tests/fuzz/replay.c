/* replay.c: run a fuzz harness over files (the torture corpus, crash
 * inputs) without libFuzzer, so ctest exercises it with gcc too.
 * --min N: fail unless at least N files were replayed, so a corpus that
 * moved or a glob that matched nothing cannot pass on nothing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerInitialize(int *argc, char ***argv);
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* A harness may say after the replay whether it saw what it should
 * (fuzz_diff: that it compared anything at all); 0 is fine. */
int	fuzz_replay_done(void) __attribute__((weak));

int
main(int argc, char *argv[])
{
	static uint8_t buf[1 << 20];
	long min = 0;
	int i, first = 1, replayed = 0;
	size_t n;
	FILE *f;

	if (argc > 2 && strcmp(argv[1], "--min") == 0) {
		min = strtol(argv[2], NULL, 10);
		first = 3;
	}
	LLVMFuzzerInitialize(&argc, &argv);
	for (i = first; i < argc; i++) {
		if ((f = fopen(argv[i], "rb")) == NULL) {
			perror(argv[i]);
			return 1;
		}
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
		/* Every prefix too: truncated messages are the common case. */
		while (n > 0)
			LLVMFuzzerTestOneInput(buf, --n);
		replayed++;
	}
	printf("replayed %d inputs\n", replayed);
	if (replayed < min) {
		fprintf(stderr, "replay: %d inputs, fewer than the %ld the "
		    "corpus holds\n", replayed, min);
		return 1;
	}
	return fuzz_replay_done != NULL && fuzz_replay_done() != 0;
}
