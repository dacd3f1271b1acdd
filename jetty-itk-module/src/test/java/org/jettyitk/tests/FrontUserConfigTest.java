package org.jettyitk.tests;

import java.nio.file.Files;
import java.nio.file.Path;

import org.jettyitk.VirtualHost;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>A {@code frontUser} the front must not drop to fails {@code start()}, naming it, before any spawner starts
 * or any privilege is dropped: root, an unknown name, a number with no passwd entry and no group, a vhost's uid or
 * gid; so does a log directory a tenant could write.</p>
 */
public class FrontUserConfigTest
{
    private static String startFailure(String frontUser, String frontGroup) throws Exception
    {
        return startFailure(frontUser, frontGroup, null);
    }

    /**
     * @param logDirectory under the server's root, owned by the uid given, or null for none
     */
    private static String startFailure(String frontUser, String frontGroup, Integer logDirectory) throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "frontUser is for a front started as root: skipped");
        try (ItkTestServer front = new ItkTestServer())
        {
            if (logDirectory != null)
            {
                Path logs = Files.createDirectory(front.root.resolve("logs"));
                ItkTestServer.chown(logs, logDirectory);
                front.itk.setLogDirectories(logs.resolve("itk").toString());
            }
            VirtualHost vhost = new VirtualHost("alice");
            vhost.setHostNames("alice.test");
            vhost.setUser(Integer.toString(ItkTestServer.ALICE));
            vhost.setGroup(Integer.toString(ItkTestServer.ALICE));
            vhost.setApp("/nonexistent/app/checked/by/the/worker");
            front.add(vhost);
            front.itk.setFrontUser(frontUser);
            front.itk.setFrontGroup(frontGroup);
            return assertThrows(IllegalStateException.class, front.server::start).getMessage();
        }
    }

    @Test
    public void testRootFrontUserFailsStart() throws Exception
    {
        assertEquals("frontUser 'root' is root", startFailure("root", null));
        assertEquals("frontUser '0' is root", startFailure("0", "41990"));
    }

    @Test
    public void testRootFrontGroupFailsStart() throws Exception
    {
        assertEquals("front group 0 is root's", startFailure("41990", "0"));
    }

    @Test
    public void testUnknownFrontUserFailsStart() throws Exception
    {
        assertEquals("frontUser 'no-such-itk-user' is unknown", startFailure("no-such-itk-user", null));
        assertEquals("frontGroup 'no-such-itk-group' is unknown", startFailure("41990", "no-such-itk-group"));
    }

    @Test
    public void testNumericFrontUserWithoutPasswdEntryNeedsAGroup() throws Exception
    {
        assertEquals("frontUser '41990' has no passwd entry: set frontGroup", startFailure("41990", null));
    }

    @Test
    public void testLogDirectoryATenantCanWriteFailsStart() throws Exception
    {
        String failure = startFailure("41990", "41990", ItkTestServer.BOB);
        assertTrue(failure.startsWith("logDirectories: log directory ") && failure.contains("/logs is owned by uid " + ItkTestServer.BOB + ", not by root"), failure);
    }

    @Test
    public void testFrontUserOfAVhostFailsStart() throws Exception
    {
        String id = Integer.toString(ItkTestServer.ALICE);
        assertEquals("vhost 'alice': runs as the front's uid " + id + " or gid " + id, startFailure(id, id));
        assertEquals("vhost 'alice': runs as the front's uid 41990 or gid " + id, startFailure("41990", id));
    }
}
