/* replay_main.c -- runs a libFuzzer target over every file in a corpus
 * directory, so fuzz targets build and their seeds run without clang. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
main (int argc, char **argv)
{
    if (argc < 2) {
        fprintf (stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 64;
    }
    DIR *dir = opendir (argv[1]);
    if (!dir) {
        fprintf (stderr, "%s: cannot open corpus\n", argv[1]);
        return 66;
    }
    int runs = 0;
    struct dirent *e;
    while ((e = readdir (dir))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf (path, sizeof path, "%s/%s", argv[1], e->d_name);
        FILE *f = fopen (path, "rb");
        if (!f)
            continue;
        uint8_t *buf = malloc (1 << 20);
        size_t n = fread (buf, 1, 1 << 20, f);
        fclose (f);
        LLVMFuzzerTestOneInput (buf, n);
        free (buf);
        runs++;
    }
    closedir (dir);
    printf ("replayed %d inputs from %s\n", runs, argv[1]);
    return runs > 0 ? 0 : 1;
}
