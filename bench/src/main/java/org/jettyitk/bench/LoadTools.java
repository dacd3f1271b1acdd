package org.jettyitk.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * <p>Runs {@code wrk} (keep-alive, concurrent) and {@code ab} (sequential, a new connection per request) and
 * reads their results: requests, duration, errors, p50 and p99 latency.</p>
 * <p>wrk reports through a Lua {@code done()} hook that prints one {@code BENCH {...}} line with exact
 * microsecond percentiles; ab's percentiles come from its {@code -e} CSV file (ms, 3 decimals).</p>
 * <p>Each runs in a session of its own ({@code setsid}), as a remote client would be apart from both servers: where
 * the kernel's autogroup is on, a session is a CPU scheduling group, and a load generator in the benchmark's own
 * session would share plain Jetty's group, thread by thread, but not jetty-itk's (its front keeps itself and its
 * workers in a CPU cgroup of their own).</p>
 */
public final class LoadTools
{
    public static final String WRK = "wrk";
    public static final String AB = "ab";
    /** ab stops at -t seconds; -n only bounds its per-request statistics array (48 bytes a request). */
    public static final int AB_MAX_REQUESTS = 500_000;
    /** Fewest requests for which ab's CSV has a true 99th percentile (it indexes round(n * 0.99)). */
    public static final int AB_EXACT_P99_MIN_REQUESTS = 50;
    private static final Pattern JSON_NUMBER = Pattern.compile("\"(\\w+)\":(-?[0-9.]+)");

    private final Path scripts;
    private final Path uploadFile;
    private final int threads;
    private final int connections;

    /**
     * @param scripts a directory for the wrk scripts and ab's CSV files
     * @param uploadFile the body of the upload workloads
     */
    public LoadTools(Path scripts, Path uploadFile, int threads, int connections) throws IOException
    {
        this.scripts = scripts;
        this.uploadFile = uploadFile;
        this.threads = threads;
        this.connections = connections;
        Files.createDirectories(scripts);
        String report = """
            done = function(summary, latency, requests)
              local e = summary.errors
              io.write(string.format('BENCH {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\\n',
                summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
                latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
            end
            """;
        Files.writeString(scripts.resolve("report.lua"), report);
        String upload = """
            local f = assert(io.open("%s", "rb"))
            wrk.method = "POST"
            wrk.body = f:read("*a")
            f:close()
            wrk.headers["Content-Type"] = "application/octet-stream"
            """.formatted(uploadFile) + report;
        Files.writeString(scripts.resolve("upload.lua"), upload);
    }

    /**
     * One load run's figures.
     *
     * @param errors failed requests: connect, read, write and timeout errors, and non-2xx/3xx statuses
     */
    public record Measurement(String tool, long requests, double seconds, long errors, double p50Ms, double p99Ms)
    {
        public double requestsPerSecond()
        {
            return seconds > 0 ? requests / seconds : 0;
        }
    }

    public static boolean isInstalled(String tool)
    {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":"))
        {
            if (Files.isExecutable(Path.of(dir, tool)))
                return true;
        }
        return false;
    }

    public static String version(String tool)
    {
        try
        {
            List<String> command = tool.equals(WRK) ? List.of(WRK, "-v") : List.of(AB, "-V");
            String out = run(command, 10).output;
            String first = out.lines().findFirst().orElse("?");
            // "wrk debian/4.1.0-3+b2 [epoll] Copyright ..." and "This is ApacheBench, Version 2.3 <$Revision$>"
            return first.replaceAll("\\s+Copyright.*", "").replace("This is ApacheBench, Version", "ApacheBench").replaceAll("\\s*<\\$Revision.*", "").trim();
        }
        catch (IOException | InterruptedException x)
        {
            return "?";
        }
    }

    public Measurement run(Workload workload, int port, int seconds) throws IOException, InterruptedException
    {
        return workload.keepAlive ? wrk(workload, port, seconds) : ab(workload, port, seconds);
    }

    private Measurement wrk(Workload workload, int port, int seconds) throws IOException, InterruptedException
    {
        List<String> command = List.of(WRK, "-t" + threads, "-c" + connections, "-d" + seconds + "s", "--timeout", "30s",
            "-s", scripts.resolve(workload.upload ? "upload.lua" : "report.lua").toString(),
            "http://127.0.0.1:" + port + workload.path);
        Result result = run(command, seconds + 60);
        String line = result.output.lines().filter(l -> l.startsWith("BENCH ")).findFirst()
            .orElseThrow(() -> new IOException("wrk printed no result (exit " + result.status + "): " + result.output));
        Matcher m = JSON_NUMBER.matcher(line);
        java.util.Map<String, Double> values = new java.util.HashMap<>();
        while (m.find())
        {
            values.put(m.group(1), Double.parseDouble(m.group(2)));
        }
        long errors = Math.round(values.get("connect") + values.get("read") + values.get("write") + values.get("status") + values.get("timeout"));
        return new Measurement(WRK, Math.round(values.get("requests")), values.get("duration_us") / 1e6, errors,
            values.get("p50_us") / 1000.0, values.get("p99_us") / 1000.0);
    }

    private Measurement ab(Workload workload, int port, int seconds) throws IOException, InterruptedException
    {
        Path csv = scripts.resolve("ab-percentiles.csv");
        Files.deleteIfExists(csv);
        List<String> command = new ArrayList<>(List.of(AB, "-q", "-r", "-c", "1", "-t", Integer.toString(seconds),
            "-n", Integer.toString(AB_MAX_REQUESTS), "-e", csv.toString()));
        if (workload.upload)
            command.addAll(List.of("-p", uploadFile.toString(), "-T", "application/octet-stream"));
        command.add("http://127.0.0.1:" + port + workload.path);
        Result result = run(command, seconds + 60);
        String out = result.output;
        long complete = number(out, "Complete requests:\\s+(\\d+)", -1);
        if (complete < 0)
            throw new IOException("ab printed no result (exit " + result.status + "): " + out);
        // "Length" failures are responses whose length differs from the first one's: not errors of the server.
        long failed = 0;
        Matcher breakdown = Pattern.compile("\\(Connect: (\\d+), Receive: (\\d+), Length: \\d+, Exceptions: (\\d+)\\)").matcher(out);
        if (breakdown.find())
            failed = Long.parseLong(breakdown.group(1)) + Long.parseLong(breakdown.group(2)) + Long.parseLong(breakdown.group(3));
        long non2xx = number(out, "Non-2xx responses:\\s+(\\d+)", 0);
        Matcher taken = Pattern.compile("Time taken for tests:\\s+([0-9.]+)").matcher(out);
        double duration = taken.find() ? Double.parseDouble(taken.group(1)) : seconds;
        double p50 = Double.NaN;
        double p99 = Double.NaN;
        for (String row : Files.readAllLines(csv))
        {
            String[] cells = row.split(",");
            if (cells[0].equals("50"))
                p50 = Double.parseDouble(cells[1]);
            // ab reads past its data for the 99th percentile of fewer than 50 requests: take the maximum then.
            else if (cells[0].equals(complete < AB_EXACT_P99_MIN_REQUESTS ? "100" : "99"))
                p99 = Double.parseDouble(cells[1]);
        }
        return new Measurement(AB, complete, duration, failed + non2xx, p50, p99);
    }

    private static long number(String text, String regex, long absent)
    {
        Matcher m = Pattern.compile(regex).matcher(text);
        return m.find() ? Long.parseLong(m.group(1)) : absent;
    }

    private record Result(int status, String output)
    {
    }

    private static Result run(List<String> command, int timeoutSeconds) throws IOException, InterruptedException
    {
        Path output = Files.createTempFile("bench-tool-", ".out");
        try
        {
            List<String> inSession = new ArrayList<>(List.of("setsid", "--wait"));
            inSession.addAll(command);
            Process process = new ProcessBuilder(inSession).redirectErrorStream(true).redirectOutput(output.toFile()).start();
            if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS))
            {
                process.destroyForcibly();
                throw new IOException("timed out after " + timeoutSeconds + "s: " + command);
            }
            return new Result(process.exitValue(), Files.readString(output, StandardCharsets.UTF_8));
        }
        finally
        {
            Files.deleteIfExists(output);
        }
    }
}
