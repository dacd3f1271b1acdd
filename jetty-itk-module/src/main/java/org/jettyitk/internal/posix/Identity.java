package org.jettyitk.internal.posix;

import java.util.Arrays;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * <p>The Unix identity a tenant's worker runs as: numeric uid, primary gid and the complete
 * supplementary group list, resolved once so that the privilege drop does no lookup.</p>
 * <p>Contracts:</p>
 * <ul>
 *   <li>{@code uid}, {@code gid} and every group are positive: 0 (root) is never a tenant
 *   identity and a negative id is {@code (uid_t)-1}, which {@code setresuid} reads as
 *   "leave unchanged";</li>
 *   <li>{@link #groups()} is sorted, without duplicates, always contains {@code gid}, and is a
 *   copy: an {@code Identity} is immutable;</li>
 *   <li>{@link #equals(Object)} and {@link #hashCode()} compare the groups by content;</li>
 *   <li>{@code user} is the passwd name, or the decimal uid when there is no passwd entry.</li>
 * </ul>
 * <p>Ranges and name resolution are {@link IdentityResolver}'s job.</p>
 *
 * @param user the user name, for logs and the user database
 * @param uid the user id
 * @param gid the primary group id
 * @param groups the supplementary groups; {@code gid} is added if missing
 */
public record Identity(String user, int uid, int gid, int[] groups)
{
    public Identity
    {
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(groups, "groups");
        checkId("uid", uid);
        checkId("gid", gid);
        for (int group : groups)
            checkId("supplementary group", group);
        int[] withGid = Arrays.copyOf(groups, groups.length + 1);
        withGid[groups.length] = gid;
        groups = Posix.sortedDistinct(withGid);
    }

    private static void checkId(String what, int id)
    {
        if (id == 0)
            throw new IllegalArgumentException(what + " 0 is never a tenant identity");
        if (id < 0)
            throw new IllegalArgumentException(what + " " + Integer.toUnsignedString(id) + " is not a valid tenant id");
    }

    /**
     * @return a copy of the supplementary groups, sorted, without duplicates, containing {@link #gid()}
     */
    @Override
    public int[] groups()
    {
        return groups.clone();
    }

    @Override
    public boolean equals(Object other)
    {
        if (this == other)
            return true;
        return other instanceof Identity that &&
            uid == that.uid &&
            gid == that.gid &&
            user.equals(that.user) &&
            Arrays.equals(groups, that.groups);
    }

    @Override
    public int hashCode()
    {
        return Objects.hash(user, uid, gid, Arrays.hashCode(groups));
    }

    @Override
    public String toString()
    {
        String groupList = Arrays.stream(groups).mapToObj(Integer::toString).collect(Collectors.joining(","));
        return "Identity[user=" + user + ",uid=" + uid + ",gid=" + gid + ",groups=[" + groupList + "]]";
    }
}
