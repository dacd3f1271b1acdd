package org.jettyitk.internal.front;

import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpStatus;
import org.jettyitk.internal.wire.Wire;

/**
 * <p>The front's own check of a worker's response head and trailers, on top of the HTTP/2 parser's: as
 * OpenSSH's monitor re-checks its child's messages, we do not rely on the worker or the codec having done it.</p>
 * <p>Each method returns null when the input is acceptable, else the rule and the offending value.</p>
 */
final class WorkerOutputRules
{
    private WorkerOutputRules()
    {
    }

    static String checkResponse(int status, HttpFields fields)
    {
        if (status < 100 || status > 599)
            return "status " + status + " outside 100..599";
        if (status == HttpStatus.SWITCHING_PROTOCOLS_101)
            return "status 101 not allowed";
        return checkFields(fields);
    }

    static String checkFields(HttpFields fields)
    {
        if (fields == null)
            return null;
        if (fields.size() > Wire.MAX_RESPONSE_FIELDS)
            return "field count " + fields.size() + " > max " + Wire.MAX_RESPONSE_FIELDS;
        for (HttpField field : fields)
        {
            String name = field.getName();
            if (name == null || name.isEmpty())
                return "empty field name";
            for (int i = 0; i < name.length(); i++)
            {
                if (!isTokenChar(name.charAt(i)))
                    return "field name '" + escape(name) + "' has character 0x" + Integer.toHexString(name.charAt(i));
            }
            String value = field.getValue();
            if (value == null)
                continue;
            for (int i = 0; i < value.length(); i++)
            {
                char c = value.charAt(i);
                // CR, LF and NUL would split or truncate the header at the client: response splitting.
                if (c == '\r' || c == '\n' || c == 0 || c > 0xFF)
                    return "field '" + name + "' value has character 0x" + Integer.toHexString(c);
            }
        }
        return null;
    }

    private static boolean isTokenChar(char c)
    {
        if (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9')
            return true;
        return "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
    }

    private static String escape(String name)
    {
        StringBuilder builder = new StringBuilder();
        for (int i = 0; i < name.length() && i < 64; i++)
        {
            char c = name.charAt(i);
            builder.append(c >= 0x20 && c < 0x7F ? String.valueOf(c) : "\\x" + Integer.toHexString(c));
        }
        return builder.toString();
    }
}
