package org.jettyitk.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * <p>CPU profiles with JDK Flight Recorder (async-profiler is not packaged here): {@code jcmd PID JFR.start}
 * on a running JVM, {@code JFR.stop} into a file, and a summary of {@code jdk.ExecutionSample} (threads running
 * Java code) and {@code jdk.NativeMethodSample} (threads in native code, such as pipe reads and writes):
 * samples per thread group, hottest top frames, hottest frames anywhere on the stack.</p>
 * <p>A worker JVM runs as its tenant and writes its recording itself, so the file goes to its own temporary
 * directory (found through {@code /proc/PID/cwd}) and is copied from there.</p>
 */
public final class Profiler
{
    public static final String RECORDING = "bench";
    public static final int STACK_DEPTH = 96;
    public static final int TOP = 20;

    private Profiler()
    {
    }

    public static void start(long pid) throws IOException, InterruptedException
    {
        run(List.of("jcmd", Long.toString(pid), "JFR.start", "name=" + RECORDING, "settings=profile"));
    }

    /**
     * Stops the recording and copies it to {@code target}.
     */
    public static void stop(long pid, Path target) throws IOException, InterruptedException
    {
        Path cwd = Path.of("/proc", Long.toString(pid), "cwd").toRealPath();
        Path own = ProcStats.uid(pid) == 0 ? target : cwd.resolve("tmp").resolve(target.getFileName());
        run(List.of("jcmd", Long.toString(pid), "JFR.stop", "name=" + RECORDING, "filename=" + own));
        if (!own.equals(target))
        {
            Files.copy(own, target, StandardCopyOption.REPLACE_EXISTING);
            Files.deleteIfExists(own);
        }
    }

    /**
     * @return a text summary of the recording's CPU samples
     */
    public static String summarize(Path recording, String title) throws IOException, InterruptedException
    {
        String text = run(List.of("jfr", "print", "--events", "jdk.ExecutionSample,jdk.NativeMethodSample",
            "--stack-depth", Integer.toString(STACK_DEPTH), recording.toString()));
        Map<String, Integer> threads = new HashMap<>();
        Map<String, Integer> self = new HashMap<>();
        Map<String, Integer> inclusive = new HashMap<>();
        Map<String, Integer> nativeFrames = new HashMap<>();
        int javaSamples = 0;
        int nativeSamples = 0;
        String thread = null;
        List<String> stack = new ArrayList<>();
        boolean inStack = false;
        boolean isNative = false;
        for (String raw : text.split("\n"))
        {
            String line = raw.strip();
            if (line.startsWith("jdk.ExecutionSample") || line.startsWith("jdk.NativeMethodSample"))
            {
                isNative = line.startsWith("jdk.NativeMethodSample");
                thread = null;
                stack.clear();
            }
            else if (line.startsWith("sampledThread = "))
            {
                thread = threadGroup(line);
            }
            else if (line.startsWith("stackTrace = ["))
            {
                inStack = true;
            }
            else if (inStack && line.equals("]"))
            {
                inStack = false;
            }
            else if (inStack)
            {
                if (!line.equals("..."))
                    stack.add(frame(line));
            }
            else if (line.equals("}") && thread != null)
            {
                if (isNative)
                {
                    nativeSamples++;
                    if (!stack.isEmpty())
                        nativeFrames.merge(stack.get(0) + "  <" + thread + ">", 1, Integer::sum);
                }
                else
                {
                    javaSamples++;
                    threads.merge(thread, 1, Integer::sum);
                    if (!stack.isEmpty())
                        self.merge(stack.get(0), 1, Integer::sum);
                    for (String method : new HashSet<>(stack))
                    {
                        inclusive.merge(method, 1, Integer::sum);
                    }
                }
                thread = null;
            }
        }
        StringBuilder out = new StringBuilder();
        out.append("== ").append(title).append(" (").append(recording.getFileName()).append(")\n");
        out.append("-- ").append(javaSamples).append(" CPU samples (jdk.ExecutionSample: threads running Java code), by thread group\n");
        appendTop(out, threads, javaSamples, TOP);
        out.append("-- top frames (self), CPU samples\n");
        appendTop(out, self, javaSamples, TOP);
        out.append("-- frames anywhere on the stack (inclusive), CPU samples\n");
        appendTop(out, inclusive, javaSamples, TOP + 10);
        out.append("-- ").append(nativeSamples).append(" native samples (jdk.NativeMethodSample: threads in native code, mostly blocked in epoll, pipe reads, accept or waitpid, so not CPU), top frames\n");
        appendTop(out, nativeFrames, nativeSamples, 10);
        return out.toString();
    }

    public static boolean isPerfInstalled()
    {
        return LoadTools.isInstalled("perf");
    }

    /**
     * A load run whose processes perf samples.
     */
    public interface Load
    {
        void run() throws Exception;
    }

    /**
     * Samples the processes with {@code perf record -g} (kernel and JVM frames, JIT frames named through
     * {@code jcmd Compiler.perfmap}) during a load run: unlike JFR it sees the time spent in the kernel and
     * in the scheduler, where threads hand work to each other.
     *
     * @return per process: CPU samples by thread group and the hottest symbols
     */
    public static String perf(List<Long> pids, List<String> names, Path dir, String workload, Load load, int seconds) throws Exception
    {
        List<Process> recorders = new ArrayList<>();
        List<Path> files = new ArrayList<>();
        Thread loader = new Thread(() ->
        {
            try
            {
                load.run();
            }
            catch (Exception x)
            {
                System.err.println("bench: load during perf failed: " + x);
            }
        }, "bench-perf-load");
        loader.start();
        // Skip the first second: wrk connecting, the first requests.
        Thread.sleep(1000);
        int recordSeconds = Math.max(1, seconds - 2);
        for (int i = 0; i < pids.size(); i++)
        {
            Path file = dir.resolve("perf-" + names.get(i).replace(' ', '-') + "-" + workload + ".data");
            files.add(file);
            recorders.add(new ProcessBuilder("perf", "record", "-q", "-F", "499", "-g", "-o", file.toString(), "-p", Long.toString(pids.get(i)),
                "--", "sleep", Integer.toString(recordSeconds)).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start());
        }
        for (Process recorder : recorders)
        {
            recorder.waitFor(recordSeconds + 60L, TimeUnit.SECONDS);
        }
        loader.join();
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < pids.size(); i++)
        {
            // perf report reads /tmp/perf-PID.map to name JIT-compiled frames.
            run(List.of("jcmd", Long.toString(pids.get(i)), "Compiler.perfmap"));
            String byThread = run(List.of("perf", "report", "-i", files.get(i).toString(), "--stdio", "--no-children", "--sort", "comm", "-g", "none"));
            String bySymbol = run(List.of("perf", "report", "-i", files.get(i).toString(), "--stdio", "--no-children", "--sort", "sym", "-g", "none"));
            Files.deleteIfExists(Path.of("/tmp", "perf-" + pids.get(i) + ".map"));
            out.append("== perf: ").append(names.get(i)).append(", ").append(workload).append(" (").append(files.get(i).getFileName()).append(")\n");
            out.append("-- CPU samples by thread group\n");
            Map<String, Double> threads = new HashMap<>();
            for (String line : byThread.split("\n"))
            {
                String[] cells = line.strip().split("\\s+", 2);
                if (line.startsWith("#") || cells.length < 2 || !cells[0].endsWith("%"))
                    continue;
                threads.merge(cells[1].replaceAll("\\d+", "N").strip(), Double.parseDouble(cells[0].replace("%", "")), Double::sum);
            }
            threads.entrySet().stream().sorted(Map.Entry.<String, Double>comparingByValue().reversed()).limit(10)
                .forEach(e -> out.append(String.format(java.util.Locale.ROOT, "%6.1f%%  %s%n", e.getValue(), e.getKey())));
            out.append("-- hottest symbols ([k] kernel, [.] JVM, native or JIT-compiled Java)\n");
            bySymbol.lines().filter(l -> !l.startsWith("#") && !l.isBlank()).limit(TOP).forEach(l -> out.append(l.strip()).append('\n'));
            out.append('\n');
        }
        return out.toString();
    }

    private static String threadGroup(String line)
    {
        int start = line.indexOf('"');
        int end = line.indexOf('"', start + 1);
        String name = start >= 0 && end > start ? line.substring(start + 1, end) : line;
        // qtp-123, itk-pipe-reader-v42100-4567, bench-server-12: group by name without numbers.
        return name.replaceAll("\\d+", "N");
    }

    private static String frame(String line)
    {
        int at = line.indexOf("line:");
        String method = at >= 0 ? line.substring(0, at) : line;
        return method.strip();
    }

    private static void appendTop(StringBuilder out, Map<String, Integer> counts, int total, int limit)
    {
        Map<String, Integer> sorted = new LinkedHashMap<>();
        counts.entrySet().stream().sorted(Map.Entry.<String, Integer>comparingByValue().reversed()).limit(limit)
            .forEach(e -> sorted.put(e.getKey(), e.getValue()));
        for (Map.Entry<String, Integer> e : sorted.entrySet())
        {
            out.append(String.format("%6d %5.1f%%  %s%n", e.getValue(), total == 0 ? 0.0 : 100.0 * e.getValue() / total, e.getKey()));
        }
    }

    private static String run(List<String> command) throws IOException, InterruptedException
    {
        Path output = Files.createTempFile("bench-jfr-", ".out");
        try
        {
            Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile()).start();
            if (!process.waitFor(120, TimeUnit.SECONDS))
            {
                process.destroyForcibly();
                throw new IOException("timed out: " + command);
            }
            String text = Files.readString(output, StandardCharsets.UTF_8);
            if (process.exitValue() != 0)
                throw new IOException(command + " failed with status " + process.exitValue() + ": " + text);
            return text;
        }
        finally
        {
            Files.deleteIfExists(output);
        }
    }
}
