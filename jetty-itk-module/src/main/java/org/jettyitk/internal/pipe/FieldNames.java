package org.jettyitk.internal.pipe;

import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpParser;
import org.eclipse.jetty.http.HttpTokens;
import org.eclipse.jetty.util.StringUtil;

/**
 * <p>What HTTP/2 loses of a message's header fields between front and worker, and how each side restores it,
 * so that a tenant and an HTTP/1 client see the fields as on a plain Jetty.</p>
 * <ul>
 *   <li>The case of field names: HPACK sends them lower-case. The sender lists, in one private field
 *   {@value #NAMES}, the names of its fields that are not lower-case
 *   ({@code itk-names: Host,User-Agent,X-Tenant-Header}); the receiver gives each field of that name, compared
 *   in ASCII lower case, the listed spelling. It changes nothing but the case of a name.</li>
 *   <li>The {@code Host} header of an HTTP/1 request: HTTP/2 has {@code :authority} instead and Jetty's HPACK
 *   encoder drops {@code Host}. The front sends it, where it was, as {@value #HOST}; the worker turns it back into
 *   {@code Host}.</li>
 * </ul>
 * <p>The front removes every copy of both fields a client sent; the front treats the ones a worker sends as
 * untrusted: a listed name that is not a token, or that is not a field's name in ASCII lower case, is ignored.</p>
 */
public final class FieldNames
{
    /** The private field listing the names whose case HPACK lost. */
    public static final String NAMES = "itk-names";
    /** The private request field carrying the client's {@code Host} header. */
    public static final String HOST = "itk-host";
    /**
     * Most {@value #NAMES} values kept parsed, and the longest: a bound on what the values of workers or clients
     * can make it hold (512 values of 512 characters at most, with the names each lists); past it, the cache
     * starts over.
     */
    static final int MAX_PARSED = 512;
    static final int MAX_PARSED_LENGTH = 512;
    private static final Map<String, Map<String, String>> PARSED = new ConcurrentHashMap<>();

    private FieldNames()
    {
    }

    /**
     * @param lowerCaseName a field name in lower case
     * @return whether it is one of the private fields of this class, which a client never chooses
     */
    public static boolean isPrivate(String lowerCaseName)
    {
        return NAMES.equals(lowerCaseName) || HOST.equals(lowerCaseName);
    }

    /**
     * Adds to {@code fields}, which will be sent over HTTP/2, the field {@value #NAMES} for the names of
     * {@code original} that are not lower case, if any.
     */
    public static void addNames(HttpFields original, HttpFields.Mutable fields)
    {
        StringBuilder names = null;
        // A message has a few fields: a scan of those listed costs less than a map.
        String[] listed = null;
        int count = 0;
        for (HttpField field : original)
        {
            String name = field.getName();
            String lowerCase = field.getLowerCaseName();
            if (name.equals(lowerCase) || isPrivate(lowerCase) || contains(listed, count, lowerCase))
                continue;
            if (listed == null)
                listed = new String[original.size()];
            listed[count++] = lowerCase;
            if (names == null)
                names = new StringBuilder(name);
            else
                names.append(',').append(name);
        }
        if (names != null)
            fields.put(NAMES, names.toString());
    }

    /**
     * @param fields fields received over HTTP/2, possibly with a {@value #NAMES} field
     * @return the spelling of each listed name, by its ASCII lower case; listed names that are not tokens are left out
     */
    public static Map<String, String> names(HttpFields fields)
    {
        Map<String, String> names = null;
        boolean merged = false;
        for (HttpField field : fields)
        {
            if (!NAMES.equals(field.getLowerCaseName()))
                continue;
            Map<String, String> listed = parsed(field.getValue());
            if (names == null)
            {
                names = listed;
            }
            else
            {
                if (!merged)
                    names = new HashMap<>(names);
                merged = true;
                for (Map.Entry<String, String> entry : listed.entrySet())
                {
                    names.putIfAbsent(entry.getKey(), entry.getValue());
                }
            }
        }
        return names == null ? Map.of() : names;
    }

    /**
     * @return the spellings one {@value #NAMES} value lists, unmodifiable; the same few values come with every
     * message of a client or an app, so the short ones are kept parsed
     */
    private static Map<String, String> parsed(String value)
    {
        Map<String, String> names = PARSED.get(value);
        if (names != null)
            return names;
        Map<String, String> spellings = new HashMap<>();
        for (String name : StringUtil.csvSplit(value))
        {
            if (isToken(name))
                spellings.putIfAbsent(StringUtil.asciiToLowerCase(name), name);
        }
        names = Collections.unmodifiableMap(spellings);
        if (value.length() <= MAX_PARSED_LENGTH)
        {
            if (PARSED.size() >= MAX_PARSED)
                PARSED.clear();
            PARSED.put(value, names);
        }
        return names;
    }

    /**
     * @return how many {@value #NAMES} values are kept parsed now
     */
    static int parsedCount()
    {
        return PARSED.size();
    }

    /**
     * @param field a field received over HTTP/2
     * @param names the spellings from {@link #names(HttpFields)}
     * @return the field with its name spelled as listed, or the field itself
     */
    public static HttpField restore(HttpField field, Map<String, String> names)
    {
        String name = names.get(field.getLowerCaseName());
        if (name == null || name.equals(field.getName()))
            return field;
        return new HttpField(field.getHeader(), name, field.getValue());
    }

    /**
     * @param fields a request's fields as the worker received them over HTTP/2
     * @param http1 whether the client spoke HTTP/1: Jetty's HTTP/1 parser then gives the fields it knows as a
     * whole line (case-insensitively) as its own cached instances, canonical name and value: a Content-Type among
     * them says its charset ({@code text/plain} none, a form's its {@code charset} parameter) where a field
     * decoded from HTTP/2 gets the one Jetty assumes for its type
     * @return the fields as the front received them from its client: {@value #HOST} back into {@code Host},
     * names spelled as the client spelled them, the private fields and the {@link ConnectionFacts#HEADER} removed
     */
    public static HttpFields restoreRequest(HttpFields fields, boolean http1)
    {
        Map<String, String> names = names(fields);
        HttpFields.Mutable restored = HttpFields.build(fields.size());
        for (HttpField field : fields)
        {
            String lowerCase = field.getLowerCaseName();
            HttpField client;
            if (HOST.equals(lowerCase))
                client = new HttpField(HttpHeader.HOST, names.getOrDefault("host", HttpHeader.HOST.asString()), field.getValue());
            else if (!NAMES.equals(lowerCase) && !ConnectionFacts.LOWER_CASE_HEADER.equals(lowerCase))
                client = restore(field, names);
            else
                continue;
            // Jetty's cache holds fields of known headers only.
            HttpField cached = http1 && client.getHeader() != null ? HttpParser.CACHE.get(client.getName() + ": " + client.getValue()) : null;
            restored.add(cached != null ? cached : client);
        }
        return restored.asImmutable();
    }

    private static boolean contains(String[] names, int count, String name)
    {
        for (int i = 0; i < count; i++)
        {
            if (names[i].equals(name))
                return true;
        }
        return false;
    }

    private static boolean isToken(String name)
    {
        // A token in lower case is what HTTP/2 allows as a name; a pseudo header is none.
        return !name.startsWith(":") && HttpTokens.isLegalH2H3FieldName(StringUtil.asciiToLowerCase(name));
    }
}
