package org.jettyitk.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import org.jettyitk.internal.spawner.SpawnerMain;
import org.jettyitk.internal.worker.WorkerMain;

/**
 * <p>What {@code /proc} tells about a process: RSS and PSS from {@code smaps_rollup}, CPU time from
 * {@code stat}, thread switches from each thread's {@code status}, the real uid from {@code status}. PSS divides each shared page (libjvm, the CDS archive, the
 * jars' page cache) by the number of processes mapping it, so the PSS of many workers adds up to what they
 * really cost.</p>
 */
public final class ProcStats
{
    /** USER_HZ: the unit of utime and stime in /proc/PID/stat; 100 on every Linux architecture Java runs on. */
    public static final int CLOCK_TICKS_PER_SECOND = 100;

    private ProcStats()
    {
    }

    public record Memory(long rssKb, long pssKb)
    {
        public static final Memory NONE = new Memory(0, 0);

        public Memory plus(Memory other)
        {
            return new Memory(rssKb + other.rssKb, pssKb + other.pssKb);
        }

        public double rssMb()
        {
            return rssKb / 1024.0;
        }

        public double pssMb()
        {
            return pssKb / 1024.0;
        }
    }

    public static Memory memory(long pid)
    {
        try
        {
            long rss = 0;
            long pss = 0;
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "smaps_rollup")))
            {
                if (line.startsWith("Rss:"))
                    rss = kilobytes(line);
                else if (line.startsWith("Pss:"))
                    pss = kilobytes(line);
            }
            return new Memory(rss, pss);
        }
        catch (IOException x)
        {
            return Memory.NONE;
        }
    }

    private static long kilobytes(String line)
    {
        String[] fields = line.trim().split("\\s+");
        return Long.parseLong(fields[1]);
    }

    /**
     * CPU time of a process, in ms: user (Java code, the JIT, the GC) and system (the kernel: socket and pipe I/O).
     */
    public record Cpu(long userMs, long systemMs, long switches)
    {
        public static final Cpu NONE = new Cpu(0, 0, 0);

        public long totalMs()
        {
            return userMs + systemMs;
        }

        public Cpu minus(Cpu before)
        {
            return new Cpu(userMs - before.userMs, systemMs - before.systemMs, switches - before.switches);
        }
    }

    /**
     * @return the CPU time the process used so far, or {@link Cpu#NONE} if it is gone
     */
    public static Cpu cpu(long pid)
    {
        try
        {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            // The command name may hold spaces and parentheses: fields are counted after its last ')'.
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).trim().split("\\s+");
            return new Cpu(Long.parseLong(fields[11]) * 1000 / CLOCK_TICKS_PER_SECOND, Long.parseLong(fields[12]) * 1000 / CLOCK_TICKS_PER_SECOND,
                switches(pid));
        }
        catch (IOException | RuntimeException x)
        {
            return Cpu.NONE;
        }
    }

    /**
     * @return the thread switches of a process so far, voluntary and not, summed over its threads: each wake-up of a
     * thread that waited costs one, so a request that crosses processes pays them several times
     */
    static long switches(long pid)
    {
        long total = 0;
        try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task")))
        {
            for (Path task : tasks.toList())
            {
                try
                {
                    for (String line : Files.readAllLines(task.resolve("status")))
                    {
                        if (line.startsWith("voluntary_ctxt_switches:") || line.startsWith("nonvoluntary_ctxt_switches:"))
                            total += Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                    }
                }
                catch (IOException | NumberFormatException x)
                {
                    // A thread that ended meanwhile.
                }
            }
        }
        catch (IOException x)
        {
            return 0;
        }
        return total;
    }

    public static int uid(long pid)
    {
        try
        {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status")))
            {
                if (line.startsWith("Uid:"))
                    return Integer.parseInt(line.substring(4).trim().split("\\s+")[0]);
            }
        }
        catch (IOException x)
        {
            // gone
        }
        return -1;
    }

    /**
     * @return the live worker JVMs under a front: descendants running {@link WorkerMain}, not the front's
     * other children (the class-data archive's training)
     */
    public static List<Long> workers(long pid)
    {
        return descendants(pid, true);
    }

    /**
     * @return the live descendants of a front that are neither workers nor the spawner of a front that runs as
     * {@code frontUser} (the spawner stays for the front's life; its children are workers or the training)
     */
    public static List<Long> others(long pid)
    {
        return descendants(pid, false).stream().filter(child -> !runs(child, SpawnerMain.class)).toList();
    }

    private static List<Long> descendants(long pid, boolean workers)
    {
        return ProcessHandle.of(pid)
            .map(p -> p.descendants().filter(ProcessHandle::isAlive).map(ProcessHandle::pid).filter(child -> runs(child, WorkerMain.class) == workers).toList())
            .orElse(List.of());
    }

    private static boolean runs(long pid, Class<?> main)
    {
        try
        {
            return Files.readString(Path.of("/proc/" + pid + "/cmdline"), StandardCharsets.ISO_8859_1).contains(main.getName());
        }
        catch (IOException x)
        {
            return false;
        }
    }
}
