package org.jettyitk.internal.posix;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * <p>One read of a {@code /proc/<pid>/status} or {@code /proc/<pid>/task/<tid>/status} file:
 * the kernel's own view of a thread's credentials, independent of what libc reports.</p>
 * <p>Lines are {@code Name:<TAB>value}; lookups by name return {@code null} for a line the
 * kernel does not print.</p>
 */
final class ProcStatus
{
    static final Path SELF = Path.of("/proc/self/status");
    static final Path TASKS = Path.of("/proc/self/task");

    private final List<String> lines;

    private ProcStatus(List<String> lines)
    {
        this.lines = lines;
    }

    static ProcStatus read(Path file) throws IOException
    {
        return new ProcStatus(Files.readAllLines(file));
    }

    /**
     * @param name the field name, without colon
     * @return the whole line as the kernel wrote it, or {@code null}
     */
    String line(String name)
    {
        String prefix = name + ":";
        return lines.stream().filter(line -> line.startsWith(prefix)).findFirst().orElse(null);
    }

    /**
     * @param name the field name, without colon
     * @return the whitespace separated words after the colon, or {@code null} if there is no such line
     */
    List<String> words(String name)
    {
        String line = line(name);
        if (line == null)
            return null;
        String value = line.substring(name.length() + 1).trim();
        return value.isEmpty() ? List.of() : Arrays.asList(value.split("\\s+"));
    }
}
