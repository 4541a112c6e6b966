/*
 * yaml_events.c - the floor for a libyaml reader: parses every event of a file through a
 * read(2) handler (as ocigate does) and does nothing else. Prints the event count.
 * Build: cc -O2 yaml_events.c $(pkg-config --cflags --libs yaml-0.1)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <yaml.h>

static int read_handler(void *data, unsigned char *buffer, size_t size, size_t *size_read)
{
    int fd = *(int *)data;
    ssize_t got;

    do {
        got = read(fd, buffer, size);
    } while (got < 0 && errno == EINTR);
    if (got < 0)
        return 0;
    *size_read = (size_t)got;
    return 1;
}

int main(int argc, char **argv)
{
    yaml_parser_t parser;
    yaml_event_t event;
    unsigned long events = 0;
    int fd, done = 0, status = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: yaml_events FILE\n");
        return 2;
    }
    fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    if (!yaml_parser_initialize(&parser)) {
        close(fd);
        return 1;
    }
    yaml_parser_set_input(&parser, read_handler, &fd);
    while (!done) {
        if (!yaml_parser_parse(&parser, &event)) {
            fprintf(stderr, "yaml_events: %s at line %lu\n",
                    parser.problem != NULL ? parser.problem : "error",
                    (unsigned long)parser.problem_mark.line + 1);
            status = 1;
            break;
        }
        events++;
        done = event.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&parser);
    close(fd);
    printf("%lu events\n", events);
    return status;
}
