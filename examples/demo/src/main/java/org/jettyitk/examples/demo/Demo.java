package org.jettyitk.examples.demo;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * <p>The jetty-itk demo: {@code alice.localhost} and {@code bob.localhost} on {@code 127.0.0.1:8080}, each served
 * by the whoami webapp in a worker running as its own numeric uid and gid (41001 and 41002), with no
 * {@code useradd}.</p>
 * <p>Arguments: {@code --war PATH} (required), {@code --port N} (default 8080), {@code --base DIR}.</p>
 * <p>This class uses nothing but the JDK, so that without root it can say so before loading any Jetty class;
 * {@link DemoServer} does the rest.</p>
 */
public final class Demo
{
    private static final int CAP_SETGID = 6;
    private static final int CAP_SETUID = 7;

    private Demo()
    {
    }

    public static void main(String[] args) throws Exception
    {
        Path war = null;
        int port = 8080;
        Path base = Path.of("/tmp/jetty-itk-demo");
        for (int i = 0; i + 1 < args.length; i += 2)
        {
            switch (args[i])
            {
                case "--war" -> war = Path.of(args[i + 1]);
                case "--port" -> port = Integer.parseInt(args[i + 1]);
                case "--base" -> base = Path.of(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (war == null)
            throw new IllegalArgumentException("--war PATH is required");
        if (!canSwitchUsers())
        {
            System.err.println("jetty-itk demo: needs root (or CAP_SETUID and CAP_SETGID) to run each vhost as its own user; run it with sudo.");
            System.exit(2);
        }

        DemoServer.run(war, port, base);
    }

    private static boolean canSwitchUsers() throws IOException
    {
        for (String line : Files.readAllLines(Path.of("/proc/self/status")))
        {
            if (line.startsWith("CapEff:"))
            {
                long caps = Long.parseLong(line.substring("CapEff:".length()).trim(), 16);
                return (caps & (1L << CAP_SETUID)) != 0 && (caps & (1L << CAP_SETGID)) != 0;
            }
        }
        return false;
    }

}
