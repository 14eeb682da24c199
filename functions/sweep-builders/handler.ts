import { stepHandler } from '../shared/handler';
import { sweepBuilders } from './sweep-builders';

export const handler = stepHandler((event: unknown, ctx) => sweepBuilders(event, ctx));
