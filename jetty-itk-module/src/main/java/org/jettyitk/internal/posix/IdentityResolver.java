package org.jettyitk.internal.posix;

import java.util.List;
import java.util.OptionalInt;
import java.util.OptionalLong;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>Turns a vhost's configured user, group and supplementary groups into a numeric
 * {@link Identity}, and refuses identities a tenant must never have.</p>
 * <p>Rules, each failing with an {@link IllegalArgumentException} whose message names the vhost,
 * the offending value and the rule (e.g. {@code vhost 'alice': uid 0 is never a tenant identity}):</p>
 * <ul>
 *   <li>{@code user} is required: a passwd name, or a decimal uid that need not exist in passwd;</li>
 *   <li>{@code group} is a group name, a decimal gid, or {@code null} (or blank) for the user's
 *   primary group from passwd, which a uid without a passwd entry does not have;</li>
 *   <li>{@code groups} is {@code null} for {@code initgroups} semantics (the groups listing the
 *   user, or just the gid for a uid without passwd entry), otherwise exactly the listed names
 *   or numbers, plus the gid; groups are never inherited from the front;</li>
 *   <li>uid, gid and every supplementary group lie in {@link #getMinId()}..{@link #getMaxId()},
 *   and 0 is refused whatever the range.</li>
 * </ul>
 * <p>All digits means a number, even where a user or group with that name exists.
 * Resolution reads the user database: do it once at start-up, not per request.</p>
 * <pre>{@code
 * IdentityResolver resolver = new IdentityResolver(Posix.get());
 * Identity alice = resolver.resolve("alice.example.com", "alice", null, null);
 * Identity other = resolver.resolve("other.example.com", "41002", "41002", List.of("41005"));
 * }</pre>
 */
public final class IdentityResolver
{
    private static final Logger LOG = LoggerFactory.getLogger(IdentityResolver.class);
    /** Debian's {@code UID_MIN}: below are system accounts. */
    public static final int DEFAULT_MIN_ID = 1000;
    /** Debian's {@code UID_MAX}: above are reserved ids such as {@code nobody}. */
    public static final int DEFAULT_MAX_ID = 60000;
    /** Longer digit strings do not fit a {@code long}; uid_t has 10 digits at most anyway. */
    private static final int MAX_ID_DIGITS = 18;

    private final Posix posix;
    private int minId = DEFAULT_MIN_ID;
    private int maxId = DEFAULT_MAX_ID;

    public IdentityResolver(Posix posix)
    {
        this.posix = posix;
    }

    public int getMinId()
    {
        return minId;
    }

    /**
     * @param minId the lowest uid or gid a tenant may have; 0 stays refused even if this is 0
     */
    public void setMinId(int minId)
    {
        if (minId < 0)
            throw new IllegalArgumentException("minId " + minId + " is negative");
        this.minId = minId;
    }

    public int getMaxId()
    {
        return maxId;
    }

    /**
     * @param maxId the highest uid or gid a tenant may have
     */
    public void setMaxId(int maxId)
    {
        if (maxId < 0)
            throw new IllegalArgumentException("maxId " + maxId + " is negative");
        this.maxId = maxId;
    }

    /**
     * @param vhostName the vhost, named in every error message
     * @param user the user name or decimal uid
     * @param group the group name, decimal gid, or {@code null} for the user's primary group
     * @param groups the supplementary groups (names or numbers), or {@code null} for the user's groups
     * @return the validated identity
     * @throws IllegalArgumentException if a rule of the class documentation is broken
     */
    public Identity resolve(String vhostName, String user, String group, List<String> groups)
    {
        Account account = resolveUser(vhostName, user);
        checkId(vhostName, "uid", account.uid());
        int gid = resolveGroup(vhostName, account, group);
        int[] supplementary = groups == null
            ? initialGroups(vhostName, account, gid)
            : listedGroups(vhostName, groups);
        Identity identity = new Identity(account.name(), (int)account.uid(), gid, supplementary);
        if (LOG.isDebugEnabled())
            LOG.debug("vhost '{}' resolved to {}", vhostName, identity);
        return identity;
    }

    private Account resolveUser(String vhostName, String user)
    {
        if (user == null || user.isBlank())
            throw invalid(vhostName, "no user configured");
        String value = user.trim();
        OptionalLong number = decimal(value);
        if (number.isPresent())
        {
            long uid = number.getAsLong();
            // A uid need not have a passwd entry; when it has one, its name gives initgroups and the primary group.
            String name = uid > Integer.MAX_VALUE ? null : posix.userName((int)uid).orElse(null);
            if (name == null)
                return new Account(value, uid, OptionalInt.empty(), false);
            return new Account(name, uid, posix.primaryGidOf(name), true);
        }
        OptionalInt uid = posix.uidOf(value);
        if (uid.isEmpty())
            throw invalid(vhostName, "unknown user '" + value + "'");
        return new Account(value, Integer.toUnsignedLong(uid.getAsInt()), posix.primaryGidOf(value), true);
    }

    private int resolveGroup(String vhostName, Account account, String group)
    {
        long gid;
        if (group == null || group.isBlank())
        {
            if (account.primaryGid().isEmpty())
                throw invalid(vhostName, "no group configured and uid " + account.uid() + " has no passwd entry to take the primary group from");
            gid = Integer.toUnsignedLong(account.primaryGid().getAsInt());
        }
        else
        {
            gid = groupId(vhostName, "group", group.trim());
        }
        checkId(vhostName, "gid", gid);
        return (int)gid;
    }

    private int[] initialGroups(String vhostName, Account account, int gid)
    {
        if (!account.inPasswd())
            return new int[]{gid};
        int[] ids = posix.groupListOf(account.name(), gid);
        for (int id : ids)
            checkId(vhostName, "supplementary group", Integer.toUnsignedLong(id));
        return ids;
    }

    private int[] listedGroups(String vhostName, List<String> groups)
    {
        int[] ids = new int[groups.size()];
        for (int i = 0; i < ids.length; i++)
        {
            String group = groups.get(i);
            if (group == null || group.isBlank())
                throw invalid(vhostName, "blank supplementary group");
            long id = groupId(vhostName, "supplementary group", group.trim());
            checkId(vhostName, "supplementary group", id);
            ids[i] = (int)id;
        }
        return ids;
    }

    private long groupId(String vhostName, String what, String group)
    {
        OptionalLong number = decimal(group);
        if (number.isPresent())
            return number.getAsLong();
        OptionalInt gid = posix.gidOf(group);
        if (gid.isEmpty())
            throw invalid(vhostName, "unknown " + what + " '" + group + "'");
        return Integer.toUnsignedLong(gid.getAsInt());
    }

    /**
     * @param what "uid", "gid" or "supplementary group"
     * @param id the id, unsigned
     */
    private void checkId(String vhostName, String what, long id)
    {
        // 0 first and unconditionally: a range configured to start at 0 must not let root in.
        if (id == 0)
            throw invalid(vhostName, what + " 0 is never a tenant identity");
        if (id < minId || id > maxId)
            throw invalid(vhostName, what + " " + id + " outside the allowed range " + minId + ".." + maxId);
    }

    private static OptionalLong decimal(String value)
    {
        if (value.isEmpty() || value.length() > MAX_ID_DIGITS || !value.chars().allMatch(c -> c >= '0' && c <= '9'))
            return OptionalLong.empty();
        return OptionalLong.of(Long.parseLong(value));
    }

    private static IllegalArgumentException invalid(String vhostName, String rule)
    {
        return new IllegalArgumentException("vhost '" + vhostName + "': " + rule);
    }

    /**
     * The user part of a resolution.
     *
     * @param name the passwd name, or the configured number when there is no passwd entry
     * @param uid the uid, unsigned
     * @param primaryGid the passwd primary group, if there is a passwd entry
     * @param inPasswd whether the user has a passwd entry, hence group memberships
     */
    private record Account(String name, long uid, OptionalInt primaryGid, boolean inPasswd)
    {
    }
}
