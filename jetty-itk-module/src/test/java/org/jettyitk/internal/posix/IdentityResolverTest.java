package org.jettyitk.internal.posix;

import java.util.List;
import java.util.OptionalInt;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Resolves against the real user database: numeric ids 41001.. exist in no passwd file,
 * {@code nobody} (uid 65534) exists everywhere.
 */
public class IdentityResolverTest
{
    private static final String NOBODY = "nobody";
    private static final int NOBODY_ID = 65534;

    private static Posix posix;
    private IdentityResolver resolver;

    @BeforeAll
    public static void beforeAll() throws Exception
    {
        posix = Posix.get();
    }

    @BeforeEach
    public void beforeEach()
    {
        resolver = new IdentityResolver(posix);
    }

    @Test
    public void testDefaultRangeIsDebians()
    {
        assertEquals(1000, resolver.getMinId());
        assertEquals(60000, resolver.getMaxId());
    }

    @Test
    public void testNumericUserAndGroup()
    {
        Identity identity = resolver.resolve("alice", "41001", "41002", null);

        assertEquals(new Identity("41001", 41001, 41002, new int[]{41002}), identity);
    }

    @Test
    public void testExplicitGroupsArePreciselyThosePlusGid()
    {
        Identity identity = resolver.resolve("alice", "41001", "41001", List.of("41005", "41003"));

        assertArrayEquals(new int[]{41001, 41003, 41005}, identity.groups());
    }

    @Test
    public void testEmptyGroupListMeansOnlyTheGid()
    {
        Identity identity = resolver.resolve("alice", "41001", "41002", List.of());

        assertArrayEquals(new int[]{41002}, identity.groups());
    }

    @Test
    public void testNameResolvesWithInitgroupsSemantics()
    {
        resolver.setMaxId(NOBODY_ID);

        Identity identity = resolver.resolve("alice", NOBODY, null, null);

        int gid = posix.primaryGidOf(NOBODY).orElseThrow();
        assertEquals(new Identity(NOBODY, NOBODY_ID, gid, posix.groupListOf(NOBODY, gid)), identity);
    }

    @Test
    public void testNumericUidWithPasswdEntryTakesItsName()
    {
        resolver.setMaxId(NOBODY_ID);

        Identity identity = resolver.resolve("alice", Integer.toString(NOBODY_ID), null, List.of());

        assertEquals(NOBODY, identity.user());
    }

    @Test
    public void testGroupByName()
    {
        OptionalInt nogroup = posix.gidOf("nogroup");
        assumeTrue(nogroup.isPresent(), "needs group 'nogroup'");
        resolver.setMaxId(NOBODY_ID);

        Identity identity = resolver.resolve("alice", "41001", "nogroup", List.of());

        assertEquals(nogroup.getAsInt(), identity.gid());
    }

    @Test
    public void testBlankUserIsRefused()
    {
        assertRefused("vhost 'x': no user configured", () -> resolver.resolve("x", " ", null, null));
    }

    @Test
    public void testNullUserIsRefused()
    {
        assertRefused("vhost 'x': no user configured", () -> resolver.resolve("x", null, null, null));
    }

    @Test
    public void testUnknownUserIsRefused()
    {
        assertRefused("vhost 'alice': unknown user 'nosuchuser'", () -> resolver.resolve("alice", "nosuchuser", null, null));
    }

    @Test
    public void testUnknownGroupIsRefused()
    {
        assertRefused("vhost 'alice': unknown group 'nosuchgroup'", () -> resolver.resolve("alice", "41001", "nosuchgroup", null));
    }

    @Test
    public void testUnknownSupplementaryGroupIsRefused()
    {
        assertRefused("vhost 'alice': unknown supplementary group 'nosuchgroup'",
            () -> resolver.resolve("alice", "41001", "41001", List.of("nosuchgroup")));
    }

    @Test
    public void testUidZeroIsRefused()
    {
        assertRefused("vhost 'alice': uid 0 is never a tenant identity", () -> resolver.resolve("alice", "0", "41001", null));
    }

    @Test
    public void testRootByNameIsRefusedEvenWithRangeFromZero()
    {
        resolver.setMinId(0);

        assertRefused("vhost 'alice': uid 0 is never a tenant identity", () -> resolver.resolve("alice", "root", "41001", null));
    }

    @Test
    public void testGidZeroIsRefused()
    {
        assertRefused("vhost 'alice': gid 0 is never a tenant identity", () -> resolver.resolve("alice", "41001", "0", null));
    }

    @Test
    public void testSupplementaryGroupZeroIsRefused()
    {
        assertRefused("vhost 'alice': supplementary group 0 is never a tenant identity",
            () -> resolver.resolve("alice", "41001", "41001", List.of("41003", "0")));
    }

    @Test
    public void testUidOutOfRangeIsRefused()
    {
        assertRefused("vhost 'alice': uid 70000 outside the allowed range 1000..60000", () -> resolver.resolve("alice", "70000", "41001", null));
    }

    @Test
    public void testUidBelowRangeIsRefused()
    {
        assertRefused("vhost 'alice': uid 999 outside the allowed range 1000..60000", () -> resolver.resolve("alice", "999", "41001", null));
    }

    @Test
    public void testGidOutOfRangeIsRefused()
    {
        assertRefused("vhost 'alice': gid 70000 outside the allowed range 1000..60000", () -> resolver.resolve("alice", "41001", "70000", null));
    }

    @Test
    public void testSupplementaryGroupOutOfRangeIsRefused()
    {
        assertRefused("vhost 'alice': supplementary group 70000 outside the allowed range 1000..60000",
            () -> resolver.resolve("alice", "41001", "41001", List.of("41003", "70000")));
    }

    @Test
    public void testConfiguredRangeIsApplied()
    {
        resolver.setMinId(41002);

        assertRefused("vhost 'alice': uid 41001 outside the allowed range 41002..60000", () -> resolver.resolve("alice", "41001", "41002", null));
    }

    @Test
    public void testUidTooLargeForUidT()
    {
        assertRefused("vhost 'alice': uid 4294967296 outside the allowed range 1000..60000", () -> resolver.resolve("alice", "4294967296", "41001", null));
    }

    @Test
    public void testNameOutsideDefaultRangeIsRefused()
    {
        assertRefused("vhost 'alice': uid 65534 outside the allowed range 1000..60000", () -> resolver.resolve("alice", NOBODY, null, null));
    }

    @Test
    public void testNumericUserWithoutPasswdEntryNeedsGroup()
    {
        assertRefused("vhost 'alice': no group configured and uid 41001 has no passwd entry to take the primary group from",
            () -> resolver.resolve("alice", "41001", null, null));
    }

    @Test
    public void testBlankSupplementaryGroupIsRefused()
    {
        assertRefused("vhost 'alice': blank supplementary group", () -> resolver.resolve("alice", "41001", "41001", List.of("41003", " ")));
    }

    private static void assertRefused(String message, Executable resolution)
    {
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class, resolution);
        assertEquals(message, x.getMessage());
    }
}
