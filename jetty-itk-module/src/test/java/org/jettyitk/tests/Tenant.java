package org.jettyitk.tests;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * <p>A process of a tenant outside any worker, as a tenant's leftover daemon or shell would be: {@code sh -c}
 * through {@code setpriv} with the tenant's uid and gid and no other group.</p>
 */
public final class Tenant
{
    private Tenant()
    {
    }

    /**
     * @return the command running {@code script} as {@code id} (uid and gid)
     */
    public static List<String> command(int id, String script)
    {
        return List.of("/usr/bin/setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups", "--", "sh", "-c", script);
    }

    /**
     * Runs {@code script} as {@code id} and waits for it.
     *
     * @return its exit status and what it printed on stdout and stderr
     */
    public static Result run(int id, String script) throws IOException, InterruptedException
    {
        Process process = start(id, script);
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS))
        {
            process.destroyForcibly();
            throw new IOException("still running after " + ItkTestServer.TIMEOUT_SECONDS + " s: " + script);
        }
        return new Result(process.exitValue(), output);
    }

    /**
     * Starts {@code script} as {@code id}, stdout and stderr merged.
     */
    public static Process start(int id, String script) throws IOException
    {
        return new ProcessBuilder(command(id, script)).redirectErrorStream(true).start();
    }

    public record Result(int status, String output)
    {
    }
}
