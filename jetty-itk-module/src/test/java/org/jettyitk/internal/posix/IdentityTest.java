package org.jettyitk.internal.posix;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The invariants of {@link Identity}, which hold whoever builds one.
 */
public class IdentityTest
{
    @Test
    public void testGroupsAreSortedDistinctAndContainGid()
    {
        Identity identity = new Identity("alice", 41001, 41001, new int[]{41005, 41003, 41005});

        assertArrayEquals(new int[]{41001, 41003, 41005}, identity.groups());
    }

    @Test
    public void testToStringListsIdsAndGroups()
    {
        Identity identity = new Identity("alice", 41001, 41001, new int[]{41005});

        assertEquals("Identity[user=alice,uid=41001,gid=41001,groups=[41001,41005]]", identity.toString());
    }

    @Test
    public void testEqualsComparesGroupsByContent()
    {
        Identity one = new Identity("alice", 41001, 41001, new int[]{41005});
        Identity two = new Identity("alice", 41001, 41001, new int[]{41005, 41001});

        assertEquals(one, two);
        assertEquals(one.hashCode(), two.hashCode());
        assertNotEquals(one, new Identity("alice", 41001, 41001, new int[]{41006}));
    }

    @Test
    public void testGroupsCannotBeModifiedFromOutside()
    {
        int[] groups = {41005};
        Identity identity = new Identity("alice", 41001, 41001, groups);
        groups[0] = 0;
        identity.groups()[0] = 0;

        assertArrayEquals(new int[]{41001, 41005}, identity.groups());
    }

    @Test
    public void testUidZeroIsRefused()
    {
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> new Identity("root", 0, 41001, new int[0]));

        assertEquals("uid 0 is never a tenant identity", x.getMessage());
    }

    @Test
    public void testSupplementaryGroupZeroIsRefused()
    {
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> new Identity("alice", 41001, 41001, new int[]{0}));

        assertEquals("supplementary group 0 is never a tenant identity", x.getMessage());
    }

    @Test
    public void testMinusOneIsRefused()
    {
        // (uid_t)-1 tells setresuid to leave the id unchanged: it must never be a target.
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> new Identity("alice", -1, 41001, new int[0]));

        assertEquals("uid 4294967295 is not a valid tenant id", x.getMessage());
    }
}
