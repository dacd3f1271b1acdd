package org.jettyitk.internal.front;

import java.io.IOException;

/**
 * <p>Every worker of a vhost is at its limit: the request is answered 503 with {@code Retry-After}.</p>
 */
public class PoolBusyException extends IOException
{
    public PoolBusyException(String message)
    {
        super(message);
    }
}
