package org.jettyitk.tests;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.eclipse.jetty.client.ContentResponse;
import org.jettyitk.VirtualHost;

/**
 * <p>A front started from a terminal, as the README starts one ({@code sudo java -jar start.jar}):
 * {@link TerminalTest} runs it under {@code script}, whose pseudo-terminal is its controlling terminal. It prints
 * its own ids ({@code probe:front ...}), then what {@link TerminalProbe}, a tenant app, reports from its worker
 * ({@code probe:worker ...}).</p>
 */
public final class TerminalAttack
{
    private TerminalAttack()
    {
    }

    public static void main(String[] args) throws Exception
    {
        System.out.println("probe:front " + TerminalProbe.stat(Files.readString(Path.of("/proc/self/stat"), StandardCharsets.UTF_8)));
        try (ItkTestServer front = new ItkTestServer())
        {
            VirtualHost vhost = new VirtualHost("tty");
            vhost.setHostNames("tty.test");
            vhost.setUser(Integer.toString(ItkTestServer.ALICE));
            vhost.setGroup(Integer.toString(ItkTestServer.ALICE));
            vhost.setApp(front.tenantDirectory("tty", ItkTestServer.ALICE).toString());
            vhost.setHandlerClass(TerminalProbe.class.getName());
            front.add(vhost);
            front.start();
            ContentResponse response = front.get(front.http1, "tty.test", "/");
            System.out.println("probe:worker status=" + response.getStatus());
            for (String line : response.getContentAsString().split("\n"))
            {
                System.out.println("probe:worker " + line);
            }
        }
        System.exit(0);
    }
}
