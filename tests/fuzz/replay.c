/* replay.c: run fuzz_sipmsg over files (the torture corpus, crash inputs)
 * without libFuzzer, so ctest exercises the harness with gcc too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerInitialize(int *argc, char ***argv);
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char *argv[])
{
	static uint8_t buf[1 << 20];
	size_t n;
	FILE *f;
	int i;

	LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
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
	}
	printf("replayed %d inputs\n", argc - 1);
	return 0;
}
